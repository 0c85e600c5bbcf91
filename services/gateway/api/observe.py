"""Per request: an id (X-Request-ID), latency and status metrics, a log line for every 5xx."""

from __future__ import annotations

import json
import logging
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.core.metrics import Metrics

logger = logging.getLogger("services.gateway.requests")

NO_VERSION = "none"
"""model_version label of answers no model gave (other routes, errors); a route that got the
model's answer puts the version in the request's state (`model_version`)."""
NO_RESPONSE = 499
"""Status label when the client left before an answer (nginx's convention)."""
INTERNAL_ERROR_BODY = json.dumps({"detail": "internal error"}).encode()


class ObserveRequests:
    """Pure ASGI middleware (BaseHTTPMiddleware costs a task and a stream per request, ~1 ms).
    Outermost of ours: every answer, 413 and 500 included, is counted and carries the id."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        id_header = (b"x-request-id", request_id.encode())
        status = NO_RESPONSE
        started = False

        async def send_observed(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        except Exception:
            logger.exception("%s %s: unhandled error, request_id=%s", *_what(scope), request_id)
            if started:
                raise  # the answer is half sent: let the server drop the connection
            await _send_internal_error(send_observed)
        finally:
            route, version = _route_of(scope), str(state.get("model_version", NO_VERSION))
            seconds = time.perf_counter() - start
            self.metrics.request_seconds.labels(route, version).observe(seconds)
            self.metrics.requests.labels(route, str(status), version).inc()
            if status >= 500 and status != NO_RESPONSE:
                _log_server_error(scope, status, request_id)


def _log_server_error(scope: Scope, status: int, request_id: str) -> None:
    detail = scope.get("state", {}).get("error_detail")
    method, route = _what(scope)
    logger.log(
        logging.WARNING if status == 503 else logging.ERROR,
        "%s %s -> %d, request_id=%s%s",
        method,
        route,
        status,
        request_id,
        f": {detail}" if detail else "",
    )


async def _send_internal_error(send: Send) -> None:
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": INTERNAL_ERROR_BODY})


def _what(scope: Scope) -> tuple[str, str]:
    return str(scope.get("method", "?")), _route_of(scope)


def _route_of(scope: Scope) -> str:
    """The matched route's path template (bounded label values), or 'unmatched'."""
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))
