"""NVTabular feature workflow: categorical encoding of user and item features, as in the reference.

The workflow has two named subgraphs, ``user`` and ``item``, so serving code can encode one side
alone. Raw catalogue ids ride along, untagged, as ``user_id_raw`` / ``item_id_raw``.
"""

from __future__ import annotations

from pathlib import Path

import nvtabular as nvt
import pandas as pd
from merlin.dag.ops.subgraph import Subgraph
from merlin.io import Dataset
from merlin.schema import Schema, Tags
from nvtabular import ops

from training.schema import ITEM_FEATURES, TARGET, USER_FEATURES

RAW_ID_COLUMNS = ("user_id_raw", "item_id_raw")


def build_workflow(categories_dir: Path) -> nvt.Workflow:
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
    return nvt.Workflow((user + item + raw_ids + target) >> ops.Dropna())


def fit_transform(
    workflow: nvt.Workflow, train: pd.DataFrame, others: dict[str, pd.DataFrame]
) -> dict[str, pd.DataFrame]:
    """Fit on train, then encode train and every other frame with the fitted statistics."""
    workflow.fit(Dataset(train))
    frames = {"train": train, **others}
    return {name: encode(workflow, frame) for name, frame in frames.items()}


def encode(workflow: nvt.Workflow, frame: pd.DataFrame) -> pd.DataFrame:
    return workflow.transform(Dataset(frame)).to_ddf().compute().reset_index(drop=True)


def model_schema(workflow: nvt.Workflow) -> Schema:
    """The encoded columns the models see: everything but the raw ids."""
    return workflow.output_schema.excluding_by_name(list(RAW_ID_COLUMNS))
