"""`python -m training evaluate --build DIR`: the evaluation table of a finished build, from
its saved artifacts and the data it was built from (regenerated for synthetic builds, else
`--data DIR`); for synthetic data with a known truth, also the top-10's true click probability.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import merlin.models.tf  # noqa: F401  registers the layers load_model rebuilds the models from
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow.parquet as pq
import tensorflow as tf
from nvtabular import Workflow

from services.ensemble.final_score import OrderSettings
from training.build import features, manifest, segments
from training.build.artifacts import ARTIFACTS
from training.data import generators, raw_data
from training.data.truth import ClickTruth
from training.errors import BuildError
from training.evaluation import candidate_lists, evaluate, user_clicks


def run(build_dir: Path, data_dir: Path | None) -> dict[str, Any]:
    document = manifest.read(build_dir)
    raw, truth = _data(document, data_dir)
    workflow = Workflow.load(str(build_dir / ARTIFACTS["workflow"]))
    encoded = {
        "train": features.encode(workflow, raw.train),
        "valid": features.encode(workflow, raw.valid),
    }
    all_rows = features.encode(workflow, pd.concat([raw.train, raw.valid]))
    items = all_rows.drop_duplicates("item_id_raw", keep="last").reset_index(drop=True)
    query_tower = tf.keras.models.load_model(build_dir / ARTIFACTS["query_tower"])
    dlrm = tf.keras.models.load_model(build_dir / ARTIFACTS["ranking_model"])
    item_vectors = _item_vectors(build_dir, items["item_id_raw"].to_numpy())
    sources = _sources(build_dir, document, encoded["train"])
    return evaluate.build_table(
        encoded, query_tower, items, item_vectors, dlrm, sources, truth=truth
    )


def _sources(build_dir: Path, document: dict[str, Any], train: pd.DataFrame) -> evaluate.Sources:
    """The build's lists and choices as it wrote them (builds before the item-item model and
    the chosen order: none, and the DLRM's order)."""
    artifacts = document["artifacts"]
    itemitem = artifacts.get("itemitem")
    dense = artifacts.get("itemitem_weights")
    weights = None
    if dense:
        with np.load(build_dir / str(dense)) as saved:
            weights = (saved["item_ids"], saved["weights"])
    return evaluate.Sources(
        pd.read_parquet(build_dir / ARTIFACTS["popular_items"])["item_id"].to_numpy(),
        pd.read_parquet(build_dir / ARTIFACTS["coclick"]),
        _segment_popular(build_dir, document, train),
        candidate_lists.MergeSettings.from_manifest(document),
        pd.read_parquet(build_dir / str(itemitem)) if itemitem else None,
        OrderSettings.from_dict(document.get("ordering")),
        weights,
        _impression_log(document),
    )


def _impression_log(document: dict[str, Any]) -> bool:
    """What the build took its log for (builds before the kind was recorded: by its filter)."""
    chosen_filter = document.get("ordering_choice", {}).get("filter", {})
    if "log" in chosen_filter:
        return bool(chosen_filter["log"] == "impressions")
    return OrderSettings.from_dict(document.get("ordering")).exclude == "clicks"


def _segment_popular(
    build_dir: Path, document: dict[str, Any], train: pd.DataFrame
) -> pd.DataFrame:
    """The build's segment lists; a build made before them gets them computed from its train
    rows, as a baseline only (its manifest's second source does not name them)."""
    name = document["artifacts"].get("segment_popular")
    if name is None:
        return segments.table(train)
    return pd.read_parquet(build_dir / str(name))


def _data(
    document: dict[str, Any], data_dir: Path | None
) -> tuple[raw_data.RawData, ClickTruth | None]:
    if data_dir is not None:
        return raw_data.load(data_dir), None
    source = str(document.get("source", ""))
    if not source.startswith("synthetic:"):
        raise BuildError(f"the build was made from {source}: give its data with --data DIR")
    kind = source.split(":", 1)[1]
    config = document["config"]
    made = generators.generate(kind, int(config["rows"]), int(config["seed"]))
    raw = raw_data.RawData(
        raw_data.validate(made.train, "train"), raw_data.validate(made.valid, "valid"), source
    )
    return raw, made.truth


def _item_vectors(build_dir: Path, item_ids: user_clicks.CatalogueIds) -> npt.NDArray[np.float32]:
    table = pq.read_table(build_dir / ARTIFACTS["item_embeddings"]).to_pandas()
    vectors = np.stack(table["embedding"].to_numpy()).astype(np.float32)
    rows = pd.Series(np.arange(len(table)), index=table["item_id"].to_numpy())
    picked: npt.NDArray[np.float32] = vectors[rows.loc[item_ids].to_numpy()]
    return picked
