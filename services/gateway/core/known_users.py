"""A few user ids with past interactions, for the page to offer: found by a SCAN of the build's
interaction sets in Redis (`contract.interactions_key`: `multi_stage_recsys:...interactions:<id>`,
the id possibly in a cluster hash tag `{<id>}`). The online sets (`online_interactions`) are not
used: a user who only posted online may be unknown to the model."""

from __future__ import annotations

from typing import Any

from services.gateway.core.config import Settings
from services.gateway.core.online_store import REDIS_FAILURES, OnlineStoreUnavailable, connect

PATTERN = "multi_stage_recsys:*interactions:*"
SCAN_BATCH = 500
MAX_KEYS = 5_000
"""Keys looked at, at most, per call (the call must stay short on a large store)."""


def user_of(key: bytes | str) -> int | None:
    """The user id at the end of a build interaction set's key; None for other keys."""
    text = key.decode(errors="replace") if isinstance(key, bytes) else key
    if "online_interactions" in text:
        return None
    tail = text.rsplit(":", 1)[-1].strip("{}")
    return int(tail) if tail.lstrip("-").isdigit() else None


async def scan_users(client: Any, count: int) -> list[int]:
    """Up to `count` distinct user ids, ascending."""
    users: set[int] = set()
    seen = 0
    async for key in client.scan_iter(match=PATTERN, count=SCAN_BATCH):
        seen += 1
        user = user_of(key)
        if user is not None:
            users.add(user)
        if len(users) >= count or seen >= MAX_KEYS:
            break
    return sorted(users)


async def sample_users(settings: Settings, count: int) -> list[int]:
    """scan_users over a connection of its own (closed after); OnlineStoreUnavailable if Redis
    cannot answer."""
    client = connect(settings)
    try:
        return await scan_users(client, count)
    except REDIS_FAILURES as exc:
        raise OnlineStoreUnavailable(f"Redis SCAN failed: {exc!r}") from exc
    finally:
        await client.aclose()
