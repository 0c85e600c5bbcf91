"""The online catalogue's Redis side against a real redis-server (the session's: tests/conftest.py)
and a real Redis Cluster: the records and the change log written, created vs replaced, retiring,
a write between a DELETE's read and its write, and Redis down as OnlineStoreUnavailable."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
import redis

from services.ensemble.contract import (
    ONLINE_ITEM_CHANGES_KEY,
    ONLINE_ITEMS_KEY,
    ONLINE_USERS_KEY,
    USER_FEATURES,
)
from services.gateway.core.catalogue_records import ItemState, UserState, encode
from services.gateway.core.catalogue_store import CatalogueStore
from services.gateway.core.config import Settings
from services.gateway.core.online_store import OnlineStoreUnavailable
from tests.conftest import flushed_db, free_port
from tests.redis_cluster import RedisCluster, redis_cluster  # noqa: F401 (the fixture)

DB = 11  # a database no other test uses
SHOE = {"item_category": 3, "item_shop": 40, "item_brand": 500}
BOOT = {"item_category": 3, "item_shop": 41, "item_brand": -7}
PERSON = {name: index for index, name in enumerate(USER_FEATURES)}
T = TypeVar("T")


@pytest.fixture()
def client(redis_server: str) -> Iterator[redis.Redis]:
    with flushed_db(redis_server, DB) as connection:
        yield connection


def run(url: str, scenario: Callable[[CatalogueStore], Awaitable[T]]) -> T:
    """`scenario` on a store of `url`, closed afterwards."""

    async def main() -> T:
        store = CatalogueStore.from_settings(Settings(redis_url=url, request_timeout_s=0.5))  # type: ignore[arg-type]
        try:
            return await scenario(store)
        finally:
            await store.close()

    return asyncio.run(main())


def held(client: redis.Redis, key: str, field: int) -> dict[str, Any]:
    raw = client.hget(key, str(field))
    assert raw is not None
    # compact JSON with sorted keys, byte for byte
    document: dict[str, Any] = json.loads(raw)
    assert raw == json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    return document


def changes(client: redis.Redis) -> list[int]:
    return [int(item) for item in client.lrange(ONLINE_ITEM_CHANGES_KEY, 0, -1)]


@pytest.fixture()
def url(redis_server: str, client: redis.Redis) -> str:
    return f"{redis_server}/{DB}"


def test_a_new_item_is_created_and_its_change_logged(url: str, client: redis.Redis) -> None:
    record, created = run(url, lambda store: store.put_item(7, SHOE))
    assert created is True and record == ItemState(SHOE, False, record.updated_at)
    assert held(client, ONLINE_ITEMS_KEY, 7) == {
        "attributes": SHOE,
        "retired": False,
        "updated_at": record.updated_at,
    }
    assert record.updated_at.endswith("+00:00")
    assert changes(client) == [7]


def test_a_second_put_replaces_the_attributes_and_logs_again(url: str, client: redis.Redis) -> None:
    run(url, lambda store: store.put_item(7, SHOE))
    record, created = run(url, lambda store: store.put_item(7, BOOT))
    assert created is False
    assert held(client, ONLINE_ITEMS_KEY, 7)["attributes"] == BOOT == record.attributes
    assert changes(client) == [7, 7]


def test_retiring_keeps_the_attributes_and_a_put_takes_the_item_back(
    url: str, client: redis.Redis
) -> None:
    async def scenario(store: CatalogueStore) -> list[tuple[ItemState, bool]]:
        return [
            await store.put_item(7, SHOE),
            await store.retire_item(7),
            await store.put_item(7, BOOT),
        ]

    (_, _), (retired, existed), (back, created) = run(url, scenario)
    assert existed is True and retired.retired is True and retired.attributes == SHOE
    assert back == ItemState(BOOT, False, back.updated_at) and created is False
    assert held(client, ONLINE_ITEMS_KEY, 7)["retired"] is False
    assert changes(client) == [7, 7, 7]


def test_retiring_an_item_only_the_build_has_stores_no_attributes(
    url: str, client: redis.Redis
) -> None:
    record, existed = run(url, lambda store: store.retire_item(9))
    assert existed is False and record.attributes is None and record.retired is True
    assert held(client, ONLINE_ITEMS_KEY, 9)["attributes"] is None
    assert changes(client) == [9]
    assert run(url, lambda store: store.get_item(9)) == record


def test_retiring_twice_changes_nothing_the_second_time(url: str, client: redis.Redis) -> None:
    async def scenario(store: CatalogueStore) -> list[tuple[ItemState, bool]]:
        await store.put_item(7, SHOE)
        return [await store.retire_item(7), await store.retire_item(7)]

    first, second = run(url, scenario)
    assert first == second and second[1] is True
    assert changes(client) == [7, 7]  # the put and the first retire only


def test_a_put_between_a_retires_read_and_write_is_kept(
    url: str, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another gateway's PUT lands after the DELETE read the record: the DELETE reads again and
    retires the new attributes instead of writing the old ones back."""
    run(url, lambda store: store.put_item(7, SHOE))
    concurrent = encode(ItemState(BOOT, False, "2026-01-01T00:00:00.000+00:00"))
    real_hget = CatalogueStore._hget
    reads = 0

    async def hget_then_a_put_lands(self: CatalogueStore, key: str, field: int) -> bytes | None:
        nonlocal reads
        raw = await real_hget(self, key, field)
        reads += 1
        if reads == 1:
            client.hset(ONLINE_ITEMS_KEY, "7", concurrent)
        return raw

    monkeypatch.setattr(CatalogueStore, "_hget", hget_then_a_put_lands)
    record, _ = run(url, lambda store: store.retire_item(7))
    assert reads == 2 and record.attributes == BOOT and record.retired is True
    assert held(client, ONLINE_ITEMS_KEY, 7)["attributes"] == BOOT
    assert changes(client) == [7, 7]  # the first put, the retire; the failed try wrote nothing


def test_a_retire_that_always_loses_the_race_is_unavailable(
    url: str, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(url, lambda store: store.put_item(7, SHOE))
    real_hget = CatalogueStore._hget

    async def hget_then_a_put_lands(self: CatalogueStore, key: str, field: int) -> bytes | None:
        raw = await real_hget(self, key, field)
        client.hset(ONLINE_ITEMS_KEY, "7", encode(ItemState(BOOT, False, str(raw))))
        return raw

    monkeypatch.setattr(CatalogueStore, "_hget", hget_then_a_put_lands)
    with pytest.raises(OnlineStoreUnavailable, match="changed during"):
        run(url, lambda store: store.retire_item(7))
    assert changes(client) == [7]  # no try wrote


def test_items_not_held_read_as_none(url: str) -> None:
    assert run(url, lambda store: store.get_item(7)) is None
    assert run(url, lambda store: store.get_user(7)) is None


def test_users_are_created_then_replaced_without_the_item_change_log(
    url: str, client: redis.Redis
) -> None:
    older = {**PERSON, "user_age": 99}

    async def scenario(store: CatalogueStore) -> list[tuple[UserState, bool]]:
        return [await store.put_user(-5, older), await store.put_user(-5, PERSON)]

    (first, created), (second, again) = run(url, scenario)
    assert (created, again) == (True, False) and first.attributes == older
    assert held(client, ONLINE_USERS_KEY, -5) == {
        "attributes": PERSON,
        "updated_at": second.updated_at,
    }
    assert run(url, lambda store: store.get_user(-5)) == second
    assert changes(client) == []


@pytest.mark.parametrize(
    "call",
    [
        lambda store: store.put_item(1, SHOE),
        lambda store: store.retire_item(1),
        lambda store: store.get_item(1),
        lambda store: store.put_user(1, PERSON),
        lambda store: store.get_user(1),
    ],
    ids=["put_item", "retire_item", "get_item", "put_user", "get_user"],
)
def test_redis_down_is_unavailable(call: Callable[[CatalogueStore], Awaitable[object]]) -> None:
    with pytest.raises(OnlineStoreUnavailable, match="failed"):
        run(f"redis://127.0.0.1:{free_port()}/0", call)


def test_items_and_users_on_a_cluster(redis_cluster: RedisCluster) -> None:  # noqa: F811
    """One script writes the record and the change log: both keys share one slot."""

    async def scenario(store: CatalogueStore) -> list[object]:
        return [
            await store.put_item(7, SHOE),
            await store.retire_item(7),
            await store.retire_item(8),
            await store.put_user(3, PERSON),
            await store.get_item(7),
        ]

    added, (_, existed), (_, build_only), (_, created), read = run(redis_cluster.url, scenario)
    assert added[1] is True and existed is True and build_only is False and created is True  # type: ignore[index]
    assert isinstance(read, ItemState) and read.retired and read.attributes == SHOE
    cluster = redis.RedisCluster(host="127.0.0.1", port=redis_cluster.ports[0])
    assert [int(i) for i in cluster.lrange(ONLINE_ITEM_CHANGES_KEY, 0, -1)] == [7, 7, 8]
    assert json.loads(cluster.hget(ONLINE_USERS_KEY, "3"))["attributes"] == PERSON
