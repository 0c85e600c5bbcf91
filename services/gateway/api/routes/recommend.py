"""GET /recommend: the ranked items for one user."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from services.gateway.api.deps import MetricsDep, RecommenderDep, SettingsDep
from services.gateway.core.triton import TritonFailed, TritonUnavailable
from services.gateway.schemas import INT32_MAX, INT32_MIN, Problem, Recommendation, RecommendedItem

router = APIRouter()


@router.get(
    "/recommend",
    response_model=Recommendation,
    responses={
        422: {"description": "user_id or k invalid"},
        502: {"model": Problem, "description": "Triton answered with an error"},
        503: {"model": Problem, "description": "Triton unreachable or too slow; see Retry-After"},
    },
)
async def recommend(
    response: Response,
    settings: SettingsDep,
    recommender: RecommenderDep,
    metrics: MetricsDep,
    user_id: Annotated[int, Query(ge=INT32_MIN, le=INT32_MAX, description="Catalogue user id")],
    k: Annotated[int, Query(ge=1, description="Number of items, at most the ensemble's")] = 10,
) -> Recommendation:
    if k > settings.max_k:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"k must be at most {settings.max_k}, got {k}"
        )
    request_id = uuid.uuid4().hex
    response.headers["X-Request-ID"] = request_id
    try:
        ranking = await recommender.rank(user_id)
    except TritonUnavailable as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            str(exc),
            headers={"Retry-After": str(settings.retry_after_s), "X-Request-ID": request_id},
        ) from exc
    except TritonFailed as exc:
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY,
            f"Triton error: {exc}",
            headers={"X-Request-ID": request_id},
        ) from exc
    if ranking.fallback:
        metrics.fallbacks.inc()
    items = [
        RecommendedItem(item_id=item, score=score)
        for item, score in zip(ranking.item_ids[:k], ranking.scores[:k], strict=True)
    ]
    return Recommendation(
        user_id=user_id,
        items=items,
        fallback=ranking.fallback,
        model=settings.model_name,
        request_id=request_id,
    )
