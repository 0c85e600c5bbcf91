"""The online catalogue in Redis: items and users added, changed or retired at run time, for the
model processes to pick up (keys and records: services/ensemble/contract.py)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from services.ensemble.contract import (
    ONLINE_ITEM_CHANGES_KEY,
    ONLINE_ITEMS_KEY,
    ONLINE_USERS_KEY,
)
from services.gateway.core.catalogue_records import (
    ItemState,
    UserState,
    added,
    decode_item,
    decode_user,
    encode,
    now,
    retired,
)
from services.gateway.core.config import Settings
from services.gateway.core.online_store import REDIS_FAILURES, OnlineStoreUnavailable, connect

WRITE_ITEM = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if #ARGV > 2 and (old or '') ~= ARGV[3] then
  return -1
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[1])
if old then
  return 0
end
return 1
"""
"""HSET the item's record ARGV[2] (field ARGV[1]) into the items hash (KEYS[1]) and RPUSH the id
onto the change log (KEYS[2]), in one atomic step; with ARGV[3], only if the record held is still
ARGV[3] ('' for none). Returns 1 (new), 0 (replaced) or -1 (changed meanwhile: nothing written).
A script, not MULTI: redis-py's asyncio cluster client has no transactions, and both keys share
one hash tag, so the script runs on Redis Cluster too."""

CONFLICTING = -1
RETIRE_ATTEMPTS = 5
"""A DELETE reads the record, then writes it back retired if no write came in between; it tries
this often before answering unavailable (only a storm of writes to one item gets that far)."""


class CatalogueStore:
    def __init__(self, client: aioredis.Redis | RedisCluster) -> None:
        self._client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> CatalogueStore:
        return cls(connect(settings))

    async def put_item(self, item_id: int, attributes: dict[str, int]) -> tuple[ItemState, bool]:
        """Store the item's raw attributes, not retired (a retired item is taken back), and log
        the change; True if the online catalogue did not hold the item."""
        record = added(attributes)
        outcome = await self._write_item(item_id, record)
        return record, outcome == 1

    async def retire_item(self, item_id: int) -> tuple[ItemState, bool]:
        """Mark the item retired, keeping its attributes if it had any (an item only the build
        has gets none), and log the change; True if the online catalogue held the item. An item
        retired already is left as it is (no change logged)."""
        for _ in range(RETIRE_ATTEMPTS):
            raw = await self._hget(ONLINE_ITEMS_KEY, item_id)
            previous = None if raw is None else decode_item(raw)
            if previous is not None and previous.retired:
                return previous, True
            record = retired(previous)
            expected = "" if raw is None else raw.decode()
            if await self._write_item(item_id, record, expected) != CONFLICTING:
                return record, previous is not None
        raise OnlineStoreUnavailable(f"item {item_id} changed during {RETIRE_ATTEMPTS} retires")

    async def get_item(self, item_id: int) -> ItemState | None:
        raw = await self._hget(ONLINE_ITEMS_KEY, item_id)
        return None if raw is None else decode_item(raw)

    async def put_user(self, user_id: int, attributes: dict[str, int]) -> tuple[UserState, bool]:
        """Store the user's raw attributes; True if the online catalogue did not hold the user."""
        record = UserState(dict(attributes), now())
        try:
            created = await cast(
                Awaitable[int], self._client.hset(ONLINE_USERS_KEY, str(user_id), encode(record))
            )
        except REDIS_FAILURES as exc:
            raise OnlineStoreUnavailable(f"Redis HSET failed: {exc!r}") from exc
        return record, bool(created)

    async def get_user(self, user_id: int) -> UserState | None:
        raw = await self._hget(ONLINE_USERS_KEY, user_id)
        return None if raw is None else decode_user(raw)

    async def _write_item(self, item_id: int, record: ItemState, *expected: str) -> int:
        keys_and_args = (ONLINE_ITEMS_KEY, ONLINE_ITEM_CHANGES_KEY, str(item_id), encode(record))
        try:
            # redis-py types commands as sync-or-async; this client is the asyncio one
            outcome = await cast(
                Awaitable[int], self._client.eval(WRITE_ITEM, 2, *keys_and_args, *expected)
            )
        except REDIS_FAILURES as exc:
            raise OnlineStoreUnavailable(f"Redis EVAL (item write) failed: {exc!r}") from exc
        return int(outcome)

    async def _hget(self, key: str, field: int) -> bytes | None:
        try:
            raw = await cast(Awaitable[bytes | None], self._client.hget(key, str(field)))
        except REDIS_FAILURES as exc:
            raise OnlineStoreUnavailable(f"Redis HGET failed: {exc!r}") from exc
        return raw

    async def close(self) -> None:
        await self._client.aclose()
