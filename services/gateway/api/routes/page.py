"""The page (GET /, static files under /static), its live panel's figures (GET /stats) and a
few known users to pick from (GET /users/sample)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request, status
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from services.gateway.api.deps import (
    AttributionStoreDep,
    LatestCountsDep,
    SettingsDep,
    require_api_key,
)
from services.gateway.api.errors import Problem, error_responses
from services.gateway.core.attribution import LatestCounts, summarize
from services.gateway.core.attribution_store import AttributionStore
from services.gateway.core.known_users import sample_users as scan_sample
from services.gateway.core.online_store import OnlineStoreUnavailable
from services.gateway.core.stats import ROUTE, RecentStats
from services.gateway.schemas_page import ArmStats, AttributionStats, LiveStats

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
MAX_CTR_K = 1000

CtrKQuery = Annotated[
    int | None,
    Query(ge=1, le=MAX_CTR_K, description="CTR@k counts positions below k; default GATEWAY_MAX_K"),
]

router = APIRouter()


def mount_static(app: FastAPI) -> None:
    """The page's script and style, under /static."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


@router.get("/", response_class=FileResponse, include_in_schema=False)
async def page() -> FileResponse:
    """A page to pick a user and see the answer, its explanation and the live panel."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@router.get(
    "/stats",
    response_model=LiveStats,
    responses=error_responses({422: f"k outside 1..{MAX_CTR_K}"}),
)
async def stats(
    request: Request,
    settings: SettingsDep,
    store: AttributionStoreDep,
    latest: LatestCountsDep,
    k: CtrKQuery = None,
) -> LiveStats:
    """/recommend over the last minutes (since the previous call within 5 minutes, or since the
    start): requests/s, p50/p99, errors and the model versions that answered; and per A/B arm
    and model version, since the counters began: answers, impressions, attributed clicks and
    CTR@k with its 95% interval."""
    recent: RecentStats = request.app.state.stats
    attribution = await read_attribution(store, latest, k or settings.k_limit)
    return LiveStats(route=ROUTE, **asdict(recent.summary()), attribution=attribution)


async def read_attribution(
    store: AttributionStore, latest: LatestCounts, k: int
) -> AttributionStats | None:
    """The counters, fresh from Redis (kept for /metrics too); None when Redis fails."""
    try:
        latest.counts = await store.counts()
    except OnlineStoreUnavailable:
        return None
    arms = [ArmStats(**asdict(summarize(counts, k))) for counts in latest.counts.arms]
    return AttributionStats(k=k, arms=arms, unattributed_clicks=latest.counts.unattributed)


@router.get(
    "/users/sample",
    response_model=list[int],
    dependencies=[Depends(require_api_key)],  # who the users are is private
    responses=error_responses(
        {
            401: "API key missing or wrong (when GATEWAY_API_KEY is set)",
            422: "count outside 1..50",
            503: "Redis unavailable; see Retry-After",
        }
    ),
)
async def sample_users(
    settings: SettingsDep, count: Annotated[int, Query(ge=1, le=50)] = 6
) -> list[int]:
    """A few user ids with past interactions in the online store, to pick on the page."""
    try:
        return await scan_sample(settings, count)
    except OnlineStoreUnavailable as exc:
        raise Problem(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "Redis unavailable",
            internal=str(exc),
            retry_after_s=settings.retry_after_s,
        ) from exc
