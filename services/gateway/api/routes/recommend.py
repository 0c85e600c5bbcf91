"""GET /recommend: the ranked items for one user."""

# No `from __future__ import annotations`: FastAPI must see k's Query, made per router, at once.
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from services.gateway.api.deps import (
    BearerKeyDep,
    HeaderKeyDep,
    ImpressionLogDep,
    MetricsDep,
    RecommenderDep,
    RequestIdDep,
    SettingsDep,
    require_api_key,
)
from services.gateway.api.errors import Problem, error_responses
from services.gateway.api.explain import read_explanation
from services.gateway.core.triton import TritonFailed, TritonUnavailable, version_label
from services.gateway.schemas import INT32_MAX, INT32_MIN, Recommendation, RecommendedItem

STANDBY_LABEL = "standby"
"""The model-version label of answers the standby model gave."""

UserIdQuery = Annotated[
    int, Query(ge=INT32_MIN, le=INT32_MAX, description="Catalogue user id (int32)")
]


ExplainQuery = Annotated[
    bool,
    Query(
        description="Add what each stage found and did (features, candidate sources, the "
        "filter's removals, every ranking score, the category cap, stage times): a slower pass "
        "of its own, for people looking, not for traffic; needs the API key when one is set "
        "(it shows the user's features and history)"
    ),
]


async def explain_if_allowed(
    settings: SettingsDep,
    bearer: BearerKeyDep,
    header: HeaderKeyDep,
    request: Request,
    explain: ExplainQuery = False,
) -> bool:
    """The explain flag, once the API key is checked when explain=true; the plain answer stays
    open (it shows only item ids)."""
    if explain:
        await require_api_key(settings, bearer, header, request)
    return explain


ExplainDep = Annotated[bool, Depends(explain_if_allowed)]


def build_router(max_k: int) -> APIRouter:
    """The route with k's range (1..max_k, the ensemble's answer size) in its schema."""
    router = APIRouter()
    k_query = Annotated[int, Query(ge=1, le=max_k, description=f"Number of items, 1 to {max_k}")]

    @router.get(
        "/recommend",
        response_model=Recommendation,
        response_model_exclude_unset=True,  # `explain` only when asked for
        responses=error_responses(
            {
                401: "explain=true without the API key (when GATEWAY_API_KEY is set)",
                422: f"user_id not an int32, or k outside 1..{max_k}",
                502: "the model failed on this request",
                503: "Triton unreachable, too slow or shutting down, the model not loaded, or "
                "its online store unavailable; see Retry-After",
            }
        ),
    )
    async def recommend(
        request: Request,
        settings: SettingsDep,
        recommender: RecommenderDep,
        metrics: MetricsDep,
        request_id: RequestIdDep,
        impressions: ImpressionLogDep,
        user_id: UserIdQuery,
        explain: ExplainDep,
        k: k_query = max_k,
    ) -> Recommendation:
        try:
            ranking = await (
                recommender.rank(user_id, explain=True) if explain else recommender.rank(user_id)
            )
        except TritonUnavailable as exc:
            raise Problem(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                f"recommendations unavailable; retry after {settings.retry_after_s} s",
                internal=f"{exc.outcome}: {exc}",
                retry_after_s=settings.retry_after_s,
            ) from exc
        except TritonFailed as exc:
            raise Problem(
                status.HTTP_502_BAD_GATEWAY, "the model failed on this request", internal=str(exc)
            ) from exc
        # metrics' and attribution's label of the model that answered
        request.state.model_version = (
            STANDBY_LABEL if ranking.standby else version_label(ranking.model_version)
        )
        if ranking.fallback:
            metrics.fallbacks.labels(request.state.model_version).inc()
        items = [
            RecommendedItem(item_id=item, score=score)
            for item, score in zip(ranking.item_ids[:k], ranking.scores[:k], strict=True)
        ]
        # in memory only: a background task writes it for click attribution
        impressions.offer(request_id, user_id, request.state.model_version, ranking.item_ids[:k])
        return Recommendation(
            user_id=user_id,
            items=items,
            fallback=ranking.fallback,
            standby=ranking.standby,
            model=settings.standby_model if ranking.standby else settings.model_name,
            model_version=ranking.model_version,
            request_id=request_id,
            **({"explain": read_explanation(ranking.explanation)} if explain else {}),
        )

    return router
