"""Redis connections of the serving graph, and their failures as one retryable error.

Every stage that talks to Redis opens its client here (timeouts from the settings) and wraps
its calls in `unavailable_on_redis_errors`, so an outage reaches the executor as
`OnlineStoreUnavailable` (Triton status UNAVAILABLE), never as a driver exception that names
internal addresses.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from services.ensemble.settings import EnsembleSettings


class OnlineStoreUnavailable(Exception):
    """The online store cannot answer this request now; the client may retry."""


class BuildNotOnline(OnlineStoreUnavailable):
    """Redis is reachable but does not hold the exported build's state (e.g. restarted empty)."""

    def __init__(self, expected: str, held: str | None) -> None:
        holds = f"it holds build {held}" if held else "it holds no build"
        super().__init__(f"online store does not hold build {expected} ({holds})")
        self.expected = expected
        self.held = held


def connect(settings: EnsembleSettings) -> redis.Redis:
    return redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
    )


@contextmanager
def unavailable_on_redis_errors() -> Iterator[None]:
    """Turn the Redis client's errors into OnlineStoreUnavailable, without its message (which
    holds the server's address)."""
    try:
        yield
    except redis.RedisError as exc:
        raise OnlineStoreUnavailable(f"online store unavailable ({type(exc).__name__})") from exc


def check_build(held: bytes | None, expected: str) -> None:
    """Raise BuildNotOnline unless Redis' build marker (ONLINE_BUILD_KEY) is `expected`."""
    value = held.decode() if held else None
    if value != expected:
        raise BuildNotOnline(expected, value)
