"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.gateway.api.deps import MetricsDep, RecommenderDep
from services.gateway.schemas import Health

router = APIRouter()


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health, "description": "Triton or the model not ready"}},
)
async def readyz(response: Response, recommender: RecommenderDep) -> Health:
    """Triton is reachable and the model is ready."""
    if await recommender.ready():
        return Health(status="ready")
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="triton not ready")


@router.get("/metrics", response_class=Response, include_in_schema=False)
async def metrics(metrics: MetricsDep) -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
