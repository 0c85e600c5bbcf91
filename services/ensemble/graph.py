"""The serving graph over a build directory: which stage reads and writes which column.

user_id -> user features (online store) -> query tower (TF) -> the user's past (and, for builds
that read them, shown) items and the build check (Redis) -> top-K candidates (faiss) merged
with the second source -> filter (past or shown items, deny-list) -> item features -> unroll ->
DLRM (TF) -> final score (the build's weights) -> order by it (category cap) -> top k

The standby graph (`standby_stages`) is the same without TensorFlow or faiss: no tower
candidates (the second source fills every place), no DLRM, the final score from the build's
weights of the other parts. The standby model serves it while the executor cannot answer.

Building the Ensemble (operator.py) checks the wiring: a stage that reads a column nothing
writes raises WiringError here, not a KeyError per request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from merlin.systems.dag import Ensemble

from services.ensemble.contract import (
    INPUT,
    ITEM_FEATURES,
    ONLINE_USERS_KEY,
    OUTPUTS,
    USER_FEATURES,
    build_id_of,
)
from services.ensemble.final_score import OrderSettings, ScoreWeights
from services.ensemble.operator import serving_graph
from services.ensemble.rules import Rules
from services.ensemble.stages import (
    EmbedOnlineItems,
    FetchCatalogueFeatures,
    FetchFeatures,
    FetchPastItems,
    FilterCandidates,
    NoRetrieval,
    OrderByScore,
    OrderInputs,
    PredictInProcess,
    RetrieveCandidates,
    UnrollUserFeatures,
    unrolled,
)
from services.ensemble.stages.base import Stage
from services.ensemble.stages.merge_candidates import (
    MergeCandidates,
    MergeColumns,
    second_source_stage,
)
from services.ensemble.stages.score_candidates import ScoreCandidates, ScoreInputs

STANDBY_PARTS = ("itemitem", "popularity", "segment")
"""The final score's parts the standby computes (no TensorFlow: not the DLRM's, not the tower's)."""
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


@dataclass(frozen=True)
class GraphSettings:
    """What an export chooses: K candidates per user handed to ranking, k items per answer."""

    candidate_count: int = 100
    topk: int = 10
    temperature: float = 0.0
    rules: Rules = field(default_factory=Rules)


@dataclass(frozen=True)
class Plan:
    """The build's choices both graphs follow, read from its manifest."""

    build_dir: Path
    manifest: dict[str, Any]
    settings: GraphSettings
    ordering: OrderSettings
    excluded: str
    itemitem_history: str
    merge: MergeCandidates | None

    @classmethod
    def of(cls, build_dir: Path, settings: GraphSettings) -> Plan:
        manifest = json.loads((build_dir / "manifest.json").read_text())
        candidate_count = min(settings.candidate_count, manifest["items"])
        topk = min(settings.topk, candidate_count)
        settings = GraphSettings(candidate_count, topk, settings.temperature, settings.rules)
        ordering = OrderSettings.from_dict(manifest.get("ordering"))
        excluded, itemitem_history = history_columns(ordering)
        merge_columns = MergeColumns(
            "retrieved_ids", "past_ids", "merged_ids", excluded, itemitem_history
        )
        merge = second_source_stage(
            build_dir, manifest, candidate_count, settings.rules, merge_columns
        )
        return cls(build_dir, manifest, settings, ordering, excluded, itemitem_history, merge)

    def path(self, name: str) -> Path:
        return self.build_dir / str(self.manifest["artifacts"][name])


def build_graph(
    build_dir: Path,
    candidate_count: int = 100,
    topk: int = 10,
    temperature: float = 0.0,
    rules: Rules | None = None,
) -> Ensemble:
    """The graph over `build_dir`: `candidate_count` (K) candidates per user handed to ranking,
    `topk` (k <= K) items in each answer; both capped by the catalogue's size."""
    settings = GraphSettings(candidate_count, topk, temperature, rules or Rules())
    return serving_graph(executor_stages(Plan.of(build_dir, settings)), OUTPUTS)


def executor_stages(plan: Plan) -> list[Stage]:
    shown = "shown_ids" if plan.ordering.reads_shown else None
    filtered = plan.merge.merged if plan.merge is not None else "retrieved_ids"
    count, rules = plan.settings.candidate_count, plan.settings.rules
    return [
        user_features(plan),
        PredictInProcess(plan.path("query_tower"), "query_tower", QUERY_TOWER_INPUTS, "query"),
        FetchPastItems(build_id_of(plan.manifest), INPUT, "past_ids", "build_epoch", shown),
        *embed_online_items(plan),
        RetrieveCandidates(
            plan.path("faiss_index"), count, rules, "query", plan.excluded, "retrieved_ids"
        ),
        *([plan.merge] if plan.merge is not None else []),
        FilterCandidates(count, rules, filtered, plan.excluded, "candidate_ids"),
        item_features(plan),
        UnrollUserFeatures(USER_COLUMNS, "candidate_ids"),
        PredictInProcess(
            plan.path("ranking_model"), "ranking_model", RANKING_INPUTS, "click_score"
        ),
        final_score(plan, plan.ordering.weights),
        order_by_score(plan),
    ]


def standby_stages(build_dir: Path, settings: GraphSettings | None = None) -> list[Stage] | None:
    """The standby graph's stages (checked like the executor's), or None for a build without
    a second source (nothing to serve without the tower)."""
    plan = Plan.of(build_dir, settings or GraphSettings())
    if plan.merge is None:
        return None
    shown = "shown_ids" if plan.ordering.reads_shown else None
    count, rules = plan.settings.candidate_count, plan.settings.rules
    stages = [
        user_features(plan),
        FetchPastItems(build_id_of(plan.manifest), INPUT, "past_ids", "build_epoch", shown),
        NoRetrieval(INPUT, "retrieved_ids"),
        plan.merge,
        FilterCandidates(count, rules, plan.merge.merged, plan.excluded, "candidate_ids"),
        item_features(plan),
        final_score(plan, standby_weights(plan.ordering.weights, plan.manifest)),
        order_by_score(plan),
    ]
    serving_graph(stages, OUTPUTS)  # the wiring check
    return stages


def standby_weights(weights: ScoreWeights, manifest: dict[str, Any]) -> ScoreWeights:
    """The build's weights of the parts that need no TensorFlow; when it weighs none of them,
    the item-item model alone (popularity for a build without one)."""
    kept = {part: getattr(weights, part) for part in STANDBY_PARTS}
    if not any(kept.values()):
        has_itemitem = "itemitem_weights" in manifest["artifacts"]
        kept = {"itemitem": 1.0} if has_itemitem else {"popularity": 1.0}
    return ScoreWeights.from_dict(kept)


def user_features(plan: Plan) -> FetchFeatures:
    """The user's features: the build's, else those PUT at run time (ONLINE_USERS_KEY)."""
    return FetchFeatures(
        plan.path("feature_repo"),
        "user_features",
        INPUT,
        USER_COLUMNS,
        "user_found",
        online_records=ONLINE_USERS_KEY,
    )


def embed_online_items(plan: Plan) -> list[EmbedOnlineItems]:
    """The stage loading the item tower for items added at run time (online_items.py), for
    builds that export one."""
    if "item_tower" not in plan.manifest["artifacts"]:
        return []
    return [EmbedOnlineItems(plan.path("item_tower"), INPUT, "online_items_applied")]


def item_features(plan: Plan) -> FetchCatalogueFeatures:
    return FetchCatalogueFeatures(
        plan.path("feature_repo"),
        "item_features",
        "candidate_ids",
        ITEM_COLUMNS,
        "item_found",
        "build_epoch",
        copies_repo=False,
    )


def final_score(plan: Plan, weights: ScoreWeights) -> ScoreCandidates:
    segment_columns = plan.manifest.get("candidates", {}).get("segment_columns", ())
    inputs = ScoreInputs(
        "candidate_ids",
        "click_score",
        "item_found",
        "query",
        plan.itemitem_history,
        tuple(segment_columns),
    )
    return ScoreCandidates(
        score_files(plan.build_dir, plan.manifest), weights, inputs, "final_score"
    )


def order_by_score(plan: Plan) -> OrderByScore:
    settings = plan.settings
    return OrderByScore(
        plan.path("popular_items"),
        settings.topk,
        order_inputs(plan.excluded),
        settings.temperature,
        settings.rules,
    )


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
