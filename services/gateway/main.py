"""The app factory and the entry point (`python -m services.gateway`)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.api.routes import health, interactions, recommend
from services.gateway.core.config import Settings, get_settings
from services.gateway.core.interactions import InteractionStore
from services.gateway.core.metrics import Metrics
from services.gateway.core.triton import Recommender


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.recommender = Recommender(settings, metrics)  # one channel for the app's life
        app.state.interactions = InteractionStore(settings)
        try:
            yield
        finally:
            await app.state.recommender.close()
            await app.state.interactions.close()

    app = FastAPI(
        title="Multi-stage recommender gateway",
        summary="Ranked items per user from the four-stage ensemble on Triton",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.include_router(recommend.router)
    app.include_router(interactions.router)
    app.include_router(health.router)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(ObserveRequests, metrics=metrics)
    return app


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 with one readable sentence per problem, beside FastAPI's structured errors."""
    assert isinstance(exc, RequestValidationError)
    problems = [
        f"{'.'.join(str(p) for p in error['loc'][1:]) or error['loc'][0]}: {error['msg']}"
        for error in exc.errors()
    ]
    return JSONResponse(
        status_code=422, content={"detail": "; ".join(problems), "errors": problems}
    )


class ObserveRequests:
    """Pure ASGI middleware recording latency and status per route (cheaper than
    BaseHTTPMiddleware, which costs a task and a stream per request)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            route = _route_of(scope)
            self.metrics.request_seconds.labels(route).observe(time.perf_counter() - start)
            self.metrics.requests.labels(route, str(status)).inc()


def _route_of(scope: Scope) -> str:
    """The matched route's path template (bounded label values), or 'unmatched'."""
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))
