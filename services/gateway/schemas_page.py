"""Bodies of the explain view (GET /recommend?explain=true) and of the page's live panel.

`Explanation` mirrors the executor's explain document (services/ensemble/explain.py); item
attributes are the catalogue's encoded values, as the ranking model sees them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Item(BaseModel):
    item_id: int
    found: bool = Field(description="Whether the catalogue holds the item's features")
    category: int | None = None
    shop: int | None = None
    brand: int | None = None


class ScorePart(BaseModel):
    value: float = Field(description="The part's own value (ranking: the DLRM's logit)")
    share: float = Field(
        description="Its share of the final score: the build's weight times the value "
        "standardized over the user's candidates"
    )


class RankedItem(Item):
    score: float = Field(description="The final score the answer is ordered by")
    click_probability: float | None = Field(
        default=None, description="The DLRM's click probability given the item is shown"
    )
    proxy: int | None = Field(
        default=None,
        description="For an item added at run time: the build item whose item-item, popularity "
        "and segment parts it takes (the one its attributes are most alike to)",
    )
    parts: dict[str, ScorePart] | None = Field(
        default=None,
        description="Each part the build weighs: ranking (DLRM), retrieval (Two-Tower), "
        "itemitem (EASE over the user's history), popularity, segment; the shares sum to score",
    )


class Ordering(BaseModel):
    weights: dict[str, float] = Field(description="The build's weight of each part used")
    filter: str | None = Field(
        default=None, description="past_ids: clicked items removed; shown_ids: every shown item"
    )
    itemitem_history: str | None = Field(
        default=None, description="What the item-item part reads: past_ids or shown_ids"
    )


class SourceCandidate(BaseModel):
    item_id: int
    score: float | None = Field(
        description="two_tower: inner product of query and item; item-item: summed EASE "
        "weight over the user's history; co-clicked: summed co-click score over the user's "
        "past items; popular in segment, most clicked: 1 / rank in that list"
    )
    origin: str | None = Field(
        default=None,
        description="item-item, co-clicked, popular in segment or most clicked",
    )


class CandidateSource(BaseModel):
    name: str = Field(description="two_tower (faiss) or second_source")
    candidates: list[SourceCandidate] = Field(description="Best first")


class RemovedItem(BaseModel):
    item_id: int
    source: str = Field(description="The list it came from")
    reason: Literal["seen", "shown", "denied"] = Field(
        description="seen: clicked before; shown: shown before without a click (builds whose "
        "filter removes those); denied: on the rules' deny-list"
    )


class FilterReport(BaseModel):
    removed: list[RemovedItem]


class MergedItem(BaseModel):
    item_id: int
    source: str


class CappedItem(BaseModel):
    item_id: int
    score: float
    category: int | None = None


class CategoryCap(BaseModel):
    max_per_category: int = Field(description="0: no cap")
    skipped: list[CappedItem] = Field(
        description="Candidates scored above the last answer item but passed over: their "
        "category was full"
    )


class UserFeatures(BaseModel):
    found: bool
    values: dict[str, int] = Field(description="Encoded feature values (empty when not found)")


class StageTiming(BaseModel):
    stage: str
    ms: float


class Explanation(BaseModel):
    user_id: int
    fallback: bool
    user_features: UserFeatures
    past_items: list[Item] = Field(description="Build and online interactions, with attributes")
    sources: list[CandidateSource]
    filter: FilterReport
    merged: list[MergedItem] = Field(description="The candidates the ranking model scored")
    ordering: Ordering | None = Field(default=None, description="How the build orders")
    ranking: list[RankedItem] = Field(description="Every scored candidate, best first")
    category_cap: CategoryCap
    final: list[RankedItem] = Field(description="The answer, best first, with attributes")
    timings_ms: list[StageTiming] = Field(description="Each stage's time in the explain pass")
    explain_ms: float = Field(description="Time to assemble this explanation")


class ArmStats(BaseModel):
    arm: str = Field(description="GATEWAY_AB's version for the users (`all` without a split)")
    model_version: str = Field(description="The version that answered (`latest`: none named)")
    requests: int = Field(description="Answers given, by every gateway on this Redis")
    recorded: int = Field(description="Answers sampled and recorded for click attribution")
    impressions: int = Field(description="Items shown at positions below k in recorded answers")
    clicks: int = Field(description="Clicks attributed to those items")
    ctr: float | None = Field(description="CTR@k: clicks / impressions; None without impressions")
    ctr_low: float | None = Field(description="The CTR's 95% Wilson interval: lower bound")
    ctr_high: float | None = Field(description="Upper bound")


class AttributionStats(BaseModel):
    k: int = Field(description="CTR@k counts positions below k")
    arms: list[ArmStats] = Field(description="One row per A/B arm and model version")
    unattributed_clicks: dict[str, int] = Field(
        description="Clicks sent with a request_id that no recorded answer explains, by reason"
    )


class LiveStats(BaseModel):
    route: str
    window_s: float = Field(description="Seconds the figures cover (up to the last 5 minutes)")
    requests: int
    requests_per_s: float
    p50_ms: float | None = Field(description="None without requests in the window")
    p99_ms: float | None
    errors: int = Field(description="5xx answers")
    client_errors: int = Field(description="4xx answers")
    model_versions: dict[str, int] = Field(description="Answers per model version")
    attribution: AttributionStats | None = Field(
        default=None,
        description="Click attribution since the counters began (kept in Redis, not windowed); "
        "null when Redis did not answer",
    )
