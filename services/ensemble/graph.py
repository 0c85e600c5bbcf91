"""The serving graph over a build directory: which stage reads and writes which column.

user_id -> user features (online store) -> query tower (TF) -> the user's past (and, for builds
that read them, shown) items and the build check (Redis) -> top-K candidates (faiss) merged
with the second source -> filter (past or shown items, deny-list) -> item features -> unroll ->
DLRM (TF) -> final score (the build's weights) -> order by it (category cap) -> top k

Building the Ensemble (operator.py) checks the wiring: a stage that reads a column nothing
writes raises WiringError here, not a KeyError per request.
"""

from __future__ import annotations

import json
from pathlib import Path

from merlin.systems.dag import Ensemble

from services.ensemble.contract import (
    INPUT,
    ITEM_FEATURES,
    OUTPUTS,
    USER_FEATURES,
    build_id_of,
)
from services.ensemble.final_score import OrderSettings
from services.ensemble.operator import serving_graph
from services.ensemble.rules import Rules
from services.ensemble.stages import (
    FetchCatalogueFeatures,
    FetchFeatures,
    FetchPastItems,
    FilterCandidates,
    OrderByScore,
    OrderInputs,
    PredictInProcess,
    RetrieveCandidates,
    UnrollUserFeatures,
    unrolled,
)
from services.ensemble.stages.merge_candidates import MergeColumns, second_source_stage
from services.ensemble.stages.score_candidates import ScoreCandidates, ScoreInputs

USER_COLUMNS = ("user_id_encoded", *USER_FEATURES)
ITEM_COLUMNS = ("item_id_encoded", *ITEM_FEATURES)
QUERY_TOWER_INPUTS = {"user_id": "user_id_encoded", **{name: name for name in USER_FEATURES}}
RANKING_INPUTS = {
    "user_id": unrolled("user_id_encoded"),
    **{name: unrolled(name) for name in USER_FEATURES},
    "item_id": "item_id_encoded",
    **{name: name for name in ITEM_FEATURES},
}


def order_inputs(excluded: str) -> OrderInputs:
    return OrderInputs(
        candidates="candidate_ids",
        scores="final_score",
        item_found="item_found",
        categories="item_category",
        user_found="user_found",
        past=excluded,
    )


def history_columns(ordering: OrderSettings) -> tuple[str, str]:
    """(what the filter removes, what the item-item model reads): each "past_ids" (the user's
    clicks) or "shown_ids" (every item shown to them)."""
    excluded = "shown_ids" if ordering.exclude == "shown" else "past_ids"
    itemitem = "shown_ids" if ordering.itemitem_input == "shown" else "past_ids"
    return excluded, itemitem


def build_id(build_dir: Path) -> str:
    """The build's id (`build_id_of` its manifest), the value the build stores in Redis under
    ONLINE_BUILD_KEY when it materializes."""
    return build_id_of(json.loads((build_dir / "manifest.json").read_text()))


def build_graph(
    build_dir: Path,
    candidate_count: int = 100,
    topk: int = 10,
    temperature: float = 0.0,
    rules: Rules | None = None,
) -> Ensemble:
    """The graph over `build_dir`: `candidate_count` (K) candidates per user handed to ranking,
    `topk` (k <= K) items in each answer; both capped by the catalogue's size."""
    rules = rules or Rules()
    manifest = json.loads((build_dir / "manifest.json").read_text())
    candidate_count = min(candidate_count, manifest["items"])
    topk = min(topk, candidate_count)

    def path(name: str) -> Path:
        return build_dir / str(manifest["artifacts"][name])

    ordering = OrderSettings.from_dict(manifest.get("ordering"))
    excluded, itemitem_history = history_columns(ordering)
    shown = "shown_ids" if ordering.reads_shown else None
    # the second candidate source; None for builds without one (the tower's list alone)
    merge_columns = MergeColumns(
        "retrieved_ids", "past_ids", "merged_ids", excluded, itemitem_history
    )
    merge = second_source_stage(build_dir, manifest, candidate_count, rules, merge_columns)
    filtered = merge.merged if merge is not None else "retrieved_ids"
    stages = [
        FetchFeatures(path("feature_repo"), "user_features", INPUT, USER_COLUMNS, "user_found"),
        PredictInProcess(path("query_tower"), "query_tower", QUERY_TOWER_INPUTS, "query"),
        FetchPastItems(build_id_of(manifest), INPUT, "past_ids", "build_epoch", shown),
        RetrieveCandidates(
            path("faiss_index"), candidate_count, rules, "query", excluded, "retrieved_ids"
        ),
        *([merge] if merge is not None else []),
        FilterCandidates(candidate_count, rules, filtered, excluded, "candidate_ids"),
        FetchCatalogueFeatures(
            path("feature_repo"),
            "item_features",
            "candidate_ids",
            ITEM_COLUMNS,
            "item_found",
            "build_epoch",
            copies_repo=False,
        ),
        UnrollUserFeatures(USER_COLUMNS, "candidate_ids"),
        PredictInProcess(path("ranking_model"), "ranking_model", RANKING_INPUTS, "click_score"),
        ScoreCandidates(
            score_files(build_dir, manifest),
            ordering.weights,
            ScoreInputs(
                "candidate_ids",
                "click_score",
                "item_found",
                "query",
                itemitem_history,
                tuple(manifest.get("candidates", {}).get("segment_columns", ())),
            ),
            "final_score",
        ),
        OrderByScore(path("popular_items"), topk, order_inputs(excluded), temperature, rules),
    ]
    return serving_graph(stages, OUTPUTS)


def score_files(build_dir: Path, manifest: dict[str, object]) -> dict[str, Path | None]:
    """The artifact of each part of the final score, where the build has it."""
    artifacts = manifest["artifacts"]
    assert isinstance(artifacts, dict)
    names = {
        "itemitem": "itemitem_weights",
        "retrieval": "item_embeddings",
        "popularity": "item_clicks",
        "segment": "segment_popular",
    }
    return {
        part: build_dir / str(artifacts[name]) if name in artifacts else None
        for part, name in names.items()
    }
