"""The served-version refresher with a stub reader at the edge of our own code (the real Redis
and gateways follow a rollout's switch in tests/integration/test_rollout.py): the value read,
kept when Redis cannot answer (logged once), followed in the background, and named by the
replica pool in requests without an A/B split (the split wins)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import pytest

from services.ensemble.contract import SERVED_VERSION_KEY
from services.gateway.core.config import Settings
from services.gateway.core.metrics import Metrics
from services.gateway.core.online_store import OnlineStore, OnlineStoreUnavailable
from services.gateway.core.replicas import ReplicaPool
from services.gateway.core.served_version import ServedVersion, parse_version
from tests.unit.gateway.stubs import StubRecommender


@dataclass
class Key:
    """The key as the store reads it: a value, or Redis down."""

    value: str | None = None
    down: bool = False

    async def read(self) -> str | None:
        if self.down:
            raise OnlineStoreUnavailable("Redis GET failed: ConnectionError('10.0.0.7:6379')")
        return self.value


def refreshed(served: ServedVersion) -> int | None:
    asyncio.run(served.refresh())
    return served.current


def test_the_version_read_and_unset_is_the_latest() -> None:
    key = Key()
    served = ServedVersion(key.read, 0.5)
    assert refreshed(served) is None
    key.value = "3"
    assert refreshed(served) == 3
    key.value = None
    assert refreshed(served) is None


def test_redis_down_or_a_bad_value_keeps_the_last_version_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = Key("2")
    served = ServedVersion(key.read, 0.5)
    assert refreshed(served) == 2
    key.down = True
    with caplog.at_level(logging.WARNING, "services.gateway.served_version"):
        assert refreshed(served) == 2
        assert refreshed(served) == 2
    assert len([r for r in caplog.records if "cannot read" in r.message]) == 1
    assert "keeping version 2" in caplog.text
    key.down, key.value = False, "two"
    assert refreshed(served) == 2
    key.value = "4"
    assert refreshed(served) == 4
    assert "read again" in caplog.text


@pytest.mark.parametrize("text", ["0", "-1", "v2", ""])
def test_not_a_version(text: str) -> None:
    with pytest.raises(ValueError):
        parse_version(text)


def test_the_background_refresh_follows_the_key_within_its_period() -> None:
    key = Key("1")

    async def run() -> list[int | None]:
        served = ServedVersion(key.read, 0.01)
        await served.start()  # the first read before any request
        seen = [served.current]
        key.value = "2"
        await asyncio.sleep(0.1)
        seen.append(served.current)
        await served.close()
        key.value = "3"
        await asyncio.sleep(0.05)
        return [*seen, served.current]

    assert asyncio.run(run()) == [1, 2, 2]  # closed: no more reads


def ask(settings: Settings, served: int | None, users: range) -> list[int | None]:
    replica = StubRecommender()

    async def run() -> None:
        pool = ReplicaPool(settings, Metrics(), [replica], served=lambda: served)
        for user in users:
            await pool.rank(user)

    asyncio.run(run())
    return replica.versions


def test_the_pool_names_the_served_version_and_an_ab_split_wins() -> None:
    assert ask(Settings(), 3, range(5)) == [3] * 5
    assert ask(Settings(), None, range(5)) == [None] * 5  # nothing served yet: Triton's latest
    split = Settings(ab="2:50,3:50")
    assert split.ab_split is not None
    assert ask(split, 4, range(50)) == [split.ab_split.version_for(u) for u in range(50)]


def test_the_store_reads_the_served_version_key() -> None:
    keys: list[str] = []

    class Client:
        async def get(self, key: str) -> bytes:
            keys.append(key)
            return b"7"

    assert asyncio.run(OnlineStore(Client()).served_version()) == "7"  # type: ignore[arg-type]
    assert keys == [SERVED_VERSION_KEY]
