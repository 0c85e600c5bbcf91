"""Online interaction sets named before the hash tags move to their tagged names (real Redis)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from services.ensemble.contract import ONLINE_INTERACTIONS_PREFIX, online_interactions_key
from tests.conftest import flushed_db
from training.build.migrate_keys import tag_online_sets

DB = 11  # a database no other test uses


@pytest.fixture()
def client(redis_server: str) -> Iterator[redis.Redis]:
    with flushed_db(redis_server, DB) as connection:
        yield connection


def test_old_online_sets_are_merged_into_the_tagged_ones(client: redis.Redis) -> None:
    client.sadd(f"{ONLINE_INTERACTIONS_PREFIX}7", 1, 2)
    client.sadd(online_interactions_key(7), 3)  # recorded after the upgrade
    client.sadd(f"{ONLINE_INTERACTIONS_PREFIX}8", 5)
    client.sadd(online_interactions_key(9), 6)
    assert tag_online_sets(client) == 2
    assert client.smembers(online_interactions_key(7)) == {b"1", b"2", b"3"}
    assert client.smembers(online_interactions_key(8)) == {b"5"}
    assert client.smembers(online_interactions_key(9)) == {b"6"}
    assert not client.exists(f"{ONLINE_INTERACTIONS_PREFIX}7", f"{ONLINE_INTERACTIONS_PREFIX}8")
    assert tag_online_sets(client) == 0
