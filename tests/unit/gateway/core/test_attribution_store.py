"""Click attribution's Redis side against a real redis-server (the session's: tests/conftest.py):
the keys and values written, their TTL, the counters read back, one count per clicked item,
and Redis down as OnlineStoreUnavailable."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator

import pytest
import redis

from services.ensemble.contract import (
    ARMS_KEY,
    UNATTRIBUTED_KEY,
    arm_counts_key,
    clicked_key,
    impression_key,
)
from services.gateway.core.attribution_store import (
    ArmCounts,
    AttributionStore,
    Counts,
    arm_counts,
    decode,
    encode,
)
from services.gateway.core.config import Settings
from services.gateway.core.impressions import Batch, Impression
from services.gateway.core.online_store import OnlineStoreUnavailable
from tests.conftest import flushed_db

DB = 10  # a database no other test uses
A, B = "a" * 32, "b" * 32


@pytest.fixture()
def client(redis_server: str) -> Iterator[redis.Redis]:
    with flushed_db(redis_server, DB) as connection:
        yield connection


def store_at(url: str) -> AttributionStore:
    return AttributionStore.from_settings(Settings(redis_url=url, request_timeout_s=0.5))  # type: ignore[arg-type]


def batch() -> Batch:
    return Batch(
        impressions={
            A: Impression(7, "1", "1", (100, 101, 102)),
            B: Impression(8, "2", "latest", (200,)),
        },
        requests=Counter({("1", "1"): 5, ("2", "latest"): 1, ("2", "2"): 3}),
    )


def test_a_batch_writes_impressions_with_their_ttl_and_raises_the_counters(
    client: redis.Redis, redis_server: str
) -> None:
    async def scenario() -> None:
        store = store_at(f"{redis_server}/{DB}")
        await store.write(batch(), ttl_s=60)
        await store.write(batch(), ttl_s=60)  # counters add up; the records are replaced
        await store.close()

    asyncio.run(scenario())
    assert json.loads(client.get(impression_key(A))) == [7, "1", "1", [100, 101, 102]]
    assert 55 <= client.ttl(impression_key(A)) <= 60 and client.ttl(impression_key(B)) > 0
    assert client.hgetall(arm_counts_key("1", "1")) == {
        b"requests": b"10",
        b"recorded": b"2",
        b"impressions:0": b"2",
        b"impressions:1": b"2",
        b"impressions:2": b"2",
    }
    assert client.hgetall(arm_counts_key("2", "2")) == {b"requests": b"6"}
    assert client.smembers(ARMS_KEY) == {b"1:1", b"2:latest", b"2:2"}
    assert client.ttl(arm_counts_key("1", "1")) == -1  # counters never expire


def test_clicks_are_counted_once_per_answer_and_item_and_read_back(
    client: redis.Redis, redis_server: str
) -> None:
    async def scenario() -> tuple[list[bool], Impression | None, Counts]:
        store = store_at(f"{redis_server}/{DB}")
        await store.write(batch(), ttl_s=60)
        firsts = [
            await store.first_click(A, 101, 60),
            await store.first_click(A, 101, 60),
            await store.first_click(A, 100, 60),
        ]
        await store.count_click("1", "1", 1)
        await store.count_click("1", "1", 0)
        await store.count_unattributed("unknown_request")
        await store.count_unattributed("unknown_request")
        await store.count_unattributed("not_shown")
        shown = await store.impression(A)
        counts = await store.counts()
        await store.close()
        return firsts, shown, counts

    firsts, shown, counts = asyncio.run(scenario())
    assert firsts == [True, False, True]
    assert 55 <= client.ttl(clicked_key(A, 101)) <= 60
    assert shown == Impression(7, "1", "1", (100, 101, 102))
    assert counts.arms == (  # versions as numbers, then names
        ArmCounts("1", "1", 5, 1, (1, 1, 1), (1, 1)),
        ArmCounts("2", "2", 3, 0, (), ()),
        ArmCounts("2", "latest", 1, 1, (1,), ()),
    )
    assert counts.unattributed == {"unknown_request": 2, "not_shown": 1}
    assert client.hgetall(UNATTRIBUTED_KEY) == {b"unknown_request": b"2", b"not_shown": b"1"}


def test_an_expired_or_unreadable_record_is_no_impression(
    client: redis.Redis, redis_server: str
) -> None:
    client.set(impression_key(B), "not json")

    async def scenario() -> list[Impression | None]:
        store = store_at(f"{redis_server}/{DB}")
        await store.write(Batch(impressions={A: Impression(1, "all", "1", (5,))}), ttl_s=1)
        await asyncio.sleep(1.2)
        found = [await store.impression(A), await store.impression(B)]
        await store.close()
        return found

    assert asyncio.run(scenario()) == [None, None]


def test_redis_down_raises_unavailable_without_the_address_in_the_type() -> None:
    async def scenario() -> None:
        store = store_at("redis://127.0.0.1:1/0")
        try:
            with pytest.raises(OnlineStoreUnavailable, match="Redis pipeline failed"):
                await store.write(batch(), ttl_s=60)
            with pytest.raises(OnlineStoreUnavailable, match="Redis GET failed"):
                await store.impression(A)
            with pytest.raises(OnlineStoreUnavailable, match="Redis SMEMBERS failed"):
                await store.counts()
        finally:
            await store.close()

    asyncio.run(scenario())


def test_records_round_trip_and_counter_fields_parse() -> None:
    shown = Impression(-3, "2", "latest", (1, 2, 3))
    assert decode(encode(shown)) == shown
    assert decode(None) is None and decode(b'[1, "a"]') is None
    fields = {b"requests": b"4", b"clicks:2": b"1", b"impressions:0": b"3", b"odd": b"9"}
    assert arm_counts("1", "2", fields) == ArmCounts("1", "2", 4, 0, (3,), (0, 0, 1))
    assert ArmCounts("1", "2", 4, 2, (3, 3, 3), (1, 0, 2)).within(2) == (1, 6)
