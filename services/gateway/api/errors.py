"""Error answers: short public bodies with the request id; internal details go to the log."""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

MAX_PROBLEMS = 10
"""Validation problems listed in a 422 at most: a body with thousands of bad keys must not get
an answer many times its size."""
MAX_PROBLEM_CHARS = 200


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


async def problem_response(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    if exc.internal is not None:
        request.state.error_detail = exc.internal  # the request log line picks it up
    body: dict[str, str] = {"detail": exc.detail}
    request_id = getattr(request.state, "request_id", None)
    if request_id is not None and exc.status_code >= 500:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def validation_problem(request: Request, exc: Exception) -> JSONResponse:
    """422 with one readable sentence per problem (the first MAX_PROBLEMS, each trimmed)."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    problems = [_sentence(error["loc"], error["msg"]) for error in errors[:MAX_PROBLEMS]]
    if len(errors) > MAX_PROBLEMS:
        problems.append(f"... and {len(errors) - MAX_PROBLEMS} more problems")
    return JSONResponse(
        status_code=422, content={"detail": "; ".join(problems), "errors": problems}
    )


def _sentence(loc: tuple[int | str, ...], message: str) -> str:
    where = ".".join(str(part) for part in loc[1:]) or str(loc[0])
    sentence = f"{where}: {message}"
    if len(sentence) > MAX_PROBLEM_CHARS:
        sentence = sentence[: MAX_PROBLEM_CHARS - 3] + "..."
    return sentence
