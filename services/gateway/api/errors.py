"""Error answers: short public bodies with the request id; internal details go to the log."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.gateway.schemas import ProblemBody, ValidationProblem

MAX_PROBLEMS = 10
"""Validation problems listed in a 422 at most: a body with thousands of bad keys must not get
an answer many times its size."""
MAX_PROBLEM_CHARS = 200

BODY_ERRORS = {
    400: "body not readable: Content-Length not a number, or JSON that is not UTF-8",
    408: "body not received within GATEWAY_BODY_TIMEOUT_S",
    413: "body larger than GATEWAY_MAX_BODY_BYTES",
}
"""What BodyLimit and the body's parsing answer, on every route that takes a body."""
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer"},
    }
}
SENDS_RETRY_AFTER = {429, 503}


class Problem(Exception):
    """Raised by a route for a non-2xx answer; `internal` (addresses, exception types) is
    logged with the request id, never sent."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        internal: str | None = None,
        retry_after_s: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.internal = internal
        self.headers = dict(headers or {})
        if retry_after_s is not None:
            self.headers["Retry-After"] = str(retry_after_s)


def error_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=`: each error status it answers, described, with the body it really
    sends (ValidationProblem for 422, ProblemBody otherwise) and Retry-After on 429 and 503."""
    return {status: _documented(status, text) for status, text in descriptions.items()}


def _documented(status: int, description: str) -> dict[str, Any]:
    model = ValidationProblem if status == 422 else ProblemBody
    entry: dict[str, Any] = {"model": model, "description": description}
    if status in SENDS_RETRY_AFTER:
        entry["headers"] = RETRY_AFTER
    return entry


async def problem_response(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    if exc.internal is not None:
        request.state.error_detail = exc.internal  # the request log line picks it up
    request_id = getattr(request.state, "request_id", None)
    body = ProblemBody(detail=exc.detail, request_id=request_id if exc.status_code >= 500 else None)
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=exc.status_code, headers=exc.headers
    )


async def validation_problem(request: Request, exc: Exception) -> JSONResponse:
    """422 with one readable sentence per problem (the first MAX_PROBLEMS, each trimmed)."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    problems = [_sentence(error["loc"], error["msg"]) for error in errors[:MAX_PROBLEMS]]
    if len(errors) > MAX_PROBLEMS:
        problems.append(f"... and {len(errors) - MAX_PROBLEMS} more problems")
    body = ValidationProblem(detail="; ".join(problems), errors=problems)
    return JSONResponse(status_code=422, content=body.model_dump())


def _sentence(loc: tuple[int | str, ...], message: str) -> str:
    where = ".".join(str(part) for part in loc[1:]) or str(loc[0])
    sentence = f"{where}: {message}"
    if len(sentence) > MAX_PROBLEM_CHARS:
        sentence = sentence[: MAX_PROBLEM_CHARS - 3] + "..."
    return sentence
