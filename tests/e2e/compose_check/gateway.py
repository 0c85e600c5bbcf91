"""HTTP to the stack (no proxy): the gateway's answers, waiting for them after a restart."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from tests.e2e.compose_check.common import CheckFailed, Context, K

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with OPENER.open(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")[:300]
    except OSError as error:
        return 0, str(error)


def recommend(ctx: Context, user: int) -> dict[str, Any]:
    status, answer = http("GET", f"{ctx.gateway}/recommend?user_id={user}&k={K}")
    if status != 200:
        raise CheckFailed(f"GET /recommend user {user}: HTTP {status} {answer}")
    return dict(answer)


def recommend_when_back(ctx: Context, user: int, seconds: float = 120.0) -> dict[str, Any]:
    """After a restart: poll until the gateway answers 200 with a model answer (not fallback)."""
    deadline = time.monotonic() + min(seconds, ctx.remaining())
    last: object = None
    while time.monotonic() < deadline:
        status, answer = http("GET", f"{ctx.gateway}/recommend?user_id={user}&k={K}")
        if status == 200 and not answer.get("fallback"):
            return dict(answer)
        last = (status, answer)
        time.sleep(1)
    raise CheckFailed(f"no model answer for user {user} within {seconds:.0f} s (last: {last})")


def first_answer(ctx: Context, user: int, seconds: float = 120.0) -> dict[str, Any]:
    """The first 200 answer: a just-started Triton can miss the gateway's deadline (HTTP 503)
    on its first requests while TensorFlow warms up; how long that lasts is recorded."""
    began, cold = time.monotonic(), 0
    deadline = began + min(seconds, ctx.remaining())
    while True:
        status, answer = http("GET", f"{ctx.gateway}/recommend?user_id={user}&k={K}")
        if status == 200:
            ctx.figures.setdefault(
                "first answer", f"after {time.monotonic() - began:.1f} s, {cold} cold HTTP 503"
            )
            return dict(answer)
        if status != 503 or time.monotonic() >= deadline:
            raise CheckFailed(f"GET /recommend user {user}: HTTP {status} {answer}")
        cold += 1
        time.sleep(0.5)


def item_ids(answer: dict[str, Any]) -> list[int]:
    return [int(item["item_id"]) for item in answer.get("items", [])]
