"""Dependencies of the routes, resolved from the app's state (tests override them). All async:
FastAPI runs a sync dependency in a worker thread, a thread hop per request."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import Depends, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from services.gateway.api.errors import Problem
from services.gateway.core.attribution import LatestCounts
from services.gateway.core.attribution_store import AttributionStore
from services.gateway.core.auth import key_matches
from services.gateway.core.catalogue_store import CatalogueStore
from services.gateway.core.config import Settings
from services.gateway.core.impressions import ImpressionLog
from services.gateway.core.metrics import Metrics
from services.gateway.core.online_store import OnlineStore
from services.gateway.core.rate_limit import TokenBuckets
from services.gateway.core.replicas import ReplicaPool


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_recommender(request: Request) -> ReplicaPool:
    recommender: ReplicaPool = request.app.state.recommender
    return recommender


async def get_online_store(request: Request) -> OnlineStore:
    store: OnlineStore = request.app.state.online_store
    return store


async def get_catalogue_store(request: Request) -> CatalogueStore:
    store: CatalogueStore = request.app.state.catalogue_store
    return store


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


async def get_impression_log(request: Request) -> ImpressionLog:
    log: ImpressionLog = request.app.state.impression_log
    return log


async def get_attribution_store(request: Request) -> AttributionStore:
    store: AttributionStore = request.app.state.attribution_store
    return store


async def get_latest_counts(request: Request) -> LatestCounts:
    latest: LatestCounts = request.app.state.latest_counts
    return latest


async def get_write_limiter(request: Request) -> TokenBuckets | None:
    """None when writes are not rate limited (GATEWAY_WRITE_RATE_PER_S=0)."""
    limiter: TokenBuckets | None = request.app.state.write_limiter
    return limiter


async def get_request_id(request: Request) -> str:
    """Set by ObserveRequests for every request (and sent as X-Request-ID)."""
    return str(getattr(request.state, "request_id", ""))


SettingsDep = Annotated[Settings, Depends(get_settings)]
RecommenderDep = Annotated[ReplicaPool, Depends(get_recommender)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
OnlineStoreDep = Annotated[OnlineStore, Depends(get_online_store)]
CatalogueStoreDep = Annotated[CatalogueStore, Depends(get_catalogue_store)]
RequestIdDep = Annotated[str, Depends(get_request_id)]
WriteLimiterDep = Annotated[TokenBuckets | None, Depends(get_write_limiter)]
ImpressionLogDep = Annotated[ImpressionLog, Depends(get_impression_log)]
AttributionStoreDep = Annotated[AttributionStore, Depends(get_attribution_store)]
LatestCountsDep = Annotated[LatestCounts, Depends(get_latest_counts)]

bearer_key = HTTPBearer(auto_error=False, description="The API key as a bearer token")
header_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key")
BearerKeyDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_key)]
HeaderKeyDep = Annotated[str | None, Depends(header_key)]


async def require_api_key(
    settings: SettingsDep, bearer: BearerKeyDep, header: HeaderKeyDep, request: Request
) -> None:
    """401 unless the configured API key came as `Authorization: Bearer` or `X-API-Key`, and
    every key sent is it (a wrong key is refused even beside the right one); a no-op when
    GATEWAY_API_KEY is not set."""
    if settings.api_key is None:
        return
    authorization = request.headers.get("authorization")  # not a Bearer one: never matches
    sent = (bearer.credentials if bearer else authorization, header)
    provided = [key for key in sent if key is not None]
    if not provided:
        raise _unauthorized("API key required: send Authorization: Bearer <key> or X-API-Key")
    if not all(key_matches(key, settings.api_key) for key in provided):
        raise _unauthorized("API key not valid")


async def require_metrics_key(
    settings: SettingsDep, bearer: BearerKeyDep, header: HeaderKeyDep, request: Request
) -> None:
    if settings.metrics_require_key:
        await require_api_key(settings, bearer, header, request)


async def limit_write_rate(request: Request, limiter: WriteLimiterDep) -> None:
    """429 with Retry-After when this client address writes faster than
    GATEWAY_WRITE_RATE_PER_S, past a burst of GATEWAY_WRITE_BURST."""
    if limiter is None:
        return
    wait_s = limiter.wait_s(request.client.host if request.client else "unknown")
    if wait_s > 0:
        retry_after_s = math.ceil(wait_s)
        raise Problem(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many writes from this address; retry after {retry_after_s} s",
            retry_after_s=retry_after_s,
        )


def _unauthorized(detail: str) -> Problem:
    return Problem(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": 'Bearer realm="gateway"'}
    )
