"""The gateway's store on a real three-master Redis Cluster (redis.asyncio's cluster client)."""

from __future__ import annotations

import asyncio

import pytest
import redis

from services.ensemble.contract import ONLINE_BUILD_KEY, online_interactions_key
from services.gateway.core.config import Settings
from services.gateway.core.online_store import OnlineStore, OnlineStoreUnavailable
from tests.conftest import free_port
from tests.redis_cluster import RedisCluster, redis_cluster  # noqa: F401 (the fixture)


def test_interactions_and_the_build_marker_on_a_cluster(redis_cluster: RedisCluster) -> None:  # noqa: F811
    async def run() -> tuple[bool, bool, str | None]:
        store = OnlineStore.from_settings(Settings(redis_url=redis_cluster.url))  # type: ignore[arg-type]
        try:
            first = await store.record_interaction(7, 70)
            again = await store.record_interaction(7, 70)
            return first, again, await store.build_id()
        finally:
            await store.close()

    cluster = redis.RedisCluster(host="127.0.0.1", port=redis_cluster.ports[0])
    cluster.set(ONLINE_BUILD_KEY, "b-1")
    assert asyncio.run(run()) == (True, False, "b-1")
    assert cluster.smembers(online_interactions_key(7)) == {b"70"}


def test_an_unreachable_cluster_is_unavailable() -> None:
    url = f"redis+cluster://127.0.0.1:{free_port()}"

    async def run() -> None:
        store = OnlineStore.from_settings(Settings(redis_url=url, request_timeout_s=0.2))  # type: ignore[arg-type]
        try:
            await store.record_interaction(1, 2)
        finally:
            await store.close()

    with pytest.raises(OnlineStoreUnavailable):
        asyncio.run(run())
