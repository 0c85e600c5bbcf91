"""NVTabular feature workflow: categorical encoding of user and item features, as in the reference.

The workflow has two named subgraphs, ``user`` and ``item``, so serving code can encode one side
alone. Raw catalogue ids ride along, untagged, as ``user_id_raw`` / ``item_id_raw``.
"""

from __future__ import annotations

from pathlib import Path

import nvtabular as nvt
import pandas as pd
from distributed import Client
from merlin.dag.ops.subgraph import Subgraph
from merlin.io import Dataset
from merlin.schema import Schema, Tags
from nvtabular import ops

from training.data.schema import ITEM_FEATURES, TARGET, USER_FEATURES

RAW_ID_COLUMNS = ("user_id_raw", "item_id_raw")


def build_workflow(categories_dir: Path, client: Client | None = None) -> nvt.Workflow:
    """The workflow; with a dask `client`, its fit and transforms run on that cluster (the
    category files go to `categories_dir`, which every worker must be able to write)."""

    def categorify() -> ops.Categorify:
        return ops.Categorify(dtype="int32", out_path=str(categories_dir))

    user = Subgraph(
        "user",
        (["user_id"] >> categorify() >> ops.TagAsUserID())
        + (list(USER_FEATURES) >> categorify() >> ops.TagAsUserFeatures()),
    )
    item = Subgraph(
        "item",
        (["item_id"] >> categorify() >> ops.TagAsItemID())
        + (list(ITEM_FEATURES) >> categorify() >> ops.TagAsItemFeatures()),
    )
    raw_ids = ["user_id", "item_id"] >> ops.Rename(postfix="_raw")
    target = [TARGET] >> ops.AddMetadata(tags=[Tags.BINARY_CLASSIFICATION, Tags.TARGET])
    return nvt.Workflow((user + item + raw_ids + target) >> ops.Dropna(), client=client)


def fit_transform(
    workflow: nvt.Workflow,
    train: pd.DataFrame,
    others: dict[str, pd.DataFrame],
    partitions: int = 1,
) -> dict[str, pd.DataFrame]:
    """Fit on train, then encode train and every other frame with the fitted statistics.

    `partitions` > 1 splits each frame into that many Dask partitions (one task each), so a
    cluster's workers share the work; the result is the same, in the same row order."""
    workflow.fit(_dataset(train, partitions))
    frames = {"train": train, **others}
    return {name: encode(workflow, frame, partitions) for name, frame in frames.items()}


def encode(workflow: nvt.Workflow, frame: pd.DataFrame, partitions: int = 1) -> pd.DataFrame:
    encoded = workflow.transform(_dataset(frame, partitions)).to_ddf().compute()
    return encoded.reset_index(drop=True)


def _dataset(frame: pd.DataFrame, partitions: int) -> Dataset:
    return Dataset(frame, npartitions=max(1, partitions))


def model_schema(workflow: nvt.Workflow) -> Schema:
    """The encoded columns the models see: everything but the raw ids."""
    return workflow.output_schema.excluding_by_name(list(RAW_ID_COLUMNS))
