"""The cap on a user's online set against a real redis-server (the session's: tests/conftest.py):
the oldest items leave first, a repeated item is not counted twice, 0 keeps everything."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis

from services.ensemble.contract import online_interactions_key, online_order_key
from services.gateway.core.config import Settings
from services.gateway.core.online_store import OnlineStore
from tests.conftest import flushed_db

DB = 15  # a database no other test uses


@pytest.fixture()
def client(redis_server: str) -> Iterator[redis.Redis]:
    with flushed_db(redis_server, DB) as connection:
        yield connection


def record(redis_server: str, max_items: int, user: int, items: list[int]) -> list[bool]:
    async def run() -> list[bool]:
        settings = Settings(redis_url=f"{redis_server}/{DB}", online_items_max=max_items)  # type: ignore[arg-type]
        store = OnlineStore.from_settings(settings)
        try:
            return [await store.record_interaction(user, item) for item in items]
        finally:
            await store.close()

    return asyncio.run(run())


def members(client: redis.Redis, user: int) -> set[int]:
    return {int(item) for item in client.smembers(online_interactions_key(user))}


def test_the_oldest_items_leave_a_full_set(redis_server: str, client: redis.Redis) -> None:
    assert record(redis_server, 3, 7, [1, 2, 3, 2, 4, 5]) == [True, True, True, False, True, True]
    assert members(client, 7) == {3, 4, 5}
    assert [int(item) for item in client.lrange(online_order_key(7), 0, -1)] == [3, 4, 5]


def test_each_user_has_a_cap_of_their_own(redis_server: str, client: redis.Redis) -> None:
    record(redis_server, 2, 1, [10, 11, 12])
    record(redis_server, 2, 2, [20])
    assert (members(client, 1), members(client, 2)) == ({11, 12}, {20})


def test_no_cap_keeps_every_item(redis_server: str, client: redis.Redis) -> None:
    record(redis_server, 0, 7, list(range(50)))
    assert members(client, 7) == set(range(50))
    assert not client.exists(online_order_key(7))
