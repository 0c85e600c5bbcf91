"""The gateway's view of Redis: recording interactions online, and which build Redis holds."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from services.ensemble.contract import (
    ONLINE_BUILD_KEY,
    SERVED_VERSION_KEY,
    online_interactions_key,
    online_order_key,
)
from services.ensemble.redis_url import is_cluster, parse_cluster
from services.gateway.core.config import Settings

REDIS_FAILURES = (RedisError, RedisClusterException, OSError, RuntimeError)
"""What a Redis call raises when the server is unreachable, slow, or drops the connection (uvloop
raises RuntimeError when it does so during the handshake, e.g. plain text to a TLS port)."""


class OnlineStoreUnavailable(Exception):
    """Redis could not be reached or did not answer in time. The message may name internal
    addresses: for the log, never for a response body."""


def connect(settings: Settings) -> aioredis.Redis | RedisCluster:
    """A client for settings.redis_url, with the password and TLS settings applied; a cluster
    client for a `redis+cluster://` URL. Connects lazily: nothing is sent until the first
    command (the cluster client then asks a startup node for the slots)."""
    options: dict[str, Any] = {
        "socket_timeout": settings.request_timeout_s,
        "socket_connect_timeout": settings.request_timeout_s,
    }
    if settings.redis_password is not None:
        options["password"] = settings.redis_password.get_secret_value()
    if settings.redis_ca_file is not None:
        options["ssl_ca_certs"] = str(settings.redis_ca_file)
    url = settings.redis_url.get_secret_value()
    if is_cluster(url):
        return _cluster_client(url, options)
    client: aioredis.Redis = aioredis.Redis.from_url(url, **options)
    return client


def _cluster_client(url: str, options: dict[str, Any]) -> RedisCluster:
    target = parse_cluster(url)
    if target.password is not None:
        options.setdefault("password", target.password)
    return RedisCluster(  # type: ignore[abstract]  # redis-py 5's typing quirk; it is concrete
        startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
        username=target.username,
        ssl=target.tls,
        **options,
    )


ADD_CAPPED = """
local added = redis.call('SADD', KEYS[1], ARGV[1])
if added == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  local over = redis.call('LLEN', KEYS[2]) - tonumber(ARGV[2])
  for _ = 1, over do
    redis.call('SREM', KEYS[1], redis.call('LPOP', KEYS[2]))
  end
end
return added
"""
"""SADD the item to the user's online set (KEYS[1]) and, when it is new, append it to the set's
order (KEYS[2]), dropping the oldest items past ARGV[2] from both: one atomic step."""


class OnlineStore:
    def __init__(self, client: aioredis.Redis | RedisCluster, max_items: int = 0) -> None:
        """max_items: the most items a user's online set keeps, oldest dropped first (0: all)."""
        self._client = client
        self._max_items = max_items

    @classmethod
    def from_settings(cls, settings: Settings) -> OnlineStore:
        return cls(connect(settings), settings.online_items_max)

    async def record_interaction(self, user_id: int, item_id: int) -> bool:
        """Add the item to the user's online set (never deleted by a build; past max_items its
        oldest items leave it); False if it was there already."""
        set_key = online_interactions_key(user_id)
        try:
            # redis-py types commands as sync-or-async; this client is the asyncio one
            if self._max_items == 0:
                added = await cast(Awaitable[int], self._client.sadd(set_key, item_id))
            else:
                keys_and_args = (set_key, online_order_key(user_id), str(item_id))
                added = await cast(
                    Awaitable[int],
                    self._client.eval(ADD_CAPPED, 2, *keys_and_args, str(self._max_items)),
                )
        except REDIS_FAILURES as exc:
            raise OnlineStoreUnavailable(f"Redis SADD failed: {exc!r}") from exc
        return bool(added)

    async def build_id(self) -> str | None:
        """The build whose online state Redis holds (ONLINE_BUILD_KEY), None if it holds none."""
        return await self._get_text(ONLINE_BUILD_KEY)

    async def served_version(self) -> str | None:
        """The raw SERVED_VERSION_KEY (the version the rollout switched to), None if unset."""
        return await self._get_text(SERVED_VERSION_KEY)

    async def _get_text(self, key: str) -> str | None:
        try:
            value = await self._client.get(key)
        except REDIS_FAILURES as exc:
            raise OnlineStoreUnavailable(f"Redis GET failed: {exc!r}") from exc
        return value.decode() if isinstance(value, bytes) else value

    async def close(self) -> None:
        await self._client.aclose()
