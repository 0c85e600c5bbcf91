"""Recording interactions online: the Redis sets the ensemble's filter reads."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.ensemble.contract import interactions_key
from services.gateway.core.config import Settings


class InteractionStoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time."""


class InteractionStore:
    def __init__(self, settings: Settings) -> None:
        self._client = aioredis.Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.request_timeout_s,
            socket_connect_timeout=settings.request_timeout_s,
        )

    async def record(self, user_id: int, item_id: int) -> bool:
        """Add the item to the user's set; False if it was there already."""
        try:
            added = await self._client.sadd(interactions_key(user_id), item_id)
        except (RedisError, OSError) as exc:
            raise InteractionStoreUnavailable(f"Redis unavailable: {exc}") from exc
        return bool(added)

    async def close(self) -> None:
        await self._client.aclose()
