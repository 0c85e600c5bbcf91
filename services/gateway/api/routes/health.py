"""Liveness, readiness and metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.gateway.api.deps import (
    MetricsDep,
    OnlineStoreDep,
    RecommenderDep,
    SettingsDep,
    require_metrics_key,
)
from services.gateway.core import readiness
from services.gateway.schemas import Health, ProblemBody, Readiness, ReplicaReadiness

router = APIRouter()


async def get_answers(request: Request) -> readiness.ModelAnswers | None:
    """Whether each replica's model answers; None without the app's lifespan (route tests)."""
    answers: readiness.ModelAnswers | None = request.app.state.answers
    return answers


AnswersDep = Annotated[readiness.ModelAnswers | None, Depends(get_answers)]


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "a check failed: see problems"}},
)
async def readyz(
    response: Response,
    recommender: RecommenderDep,
    store: OnlineStoreDep,
    settings: SettingsDep,
    answers: AnswersDep,
) -> Readiness:
    """At least one Triton replica serves the model and its model answers inferences (a
    ranking within the last GATEWAY_READY_PROBE_S + GATEWAY_READY_TIMEOUT_S, from a request or
    a probe), Redis answers, and Redis holds the online state of the build the ready replicas
    serve (their config's build_id; without one, of some build). Lists each replica's state."""
    report = await readiness.check(
        recommender, store, settings.ready_timeout_s, answers, max_k=settings.k_limit
    )
    replicas = [ReplicaReadiness(replica=s.replica, state=s.state) for s in report.replicas]
    if not report.problems:
        return Readiness(status="ready", replicas=replicas)
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Readiness(status="not ready", problems=report.problems, replicas=replicas)


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(require_metrics_key)],
    responses={401: {"model": ProblemBody, "description": "GATEWAY_METRICS_REQUIRE_KEY is on"}},
    include_in_schema=False,
)
async def metrics(metrics: MetricsDep) -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
