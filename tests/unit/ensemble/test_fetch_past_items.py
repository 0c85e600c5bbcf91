"""FetchPastItems on a real Redis: union of the build's and the online sets, and the build check."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import redis

from services.ensemble.contract import build_key, interactions_key, online_interactions_key
from services.ensemble.redis_store import BuildNotOnline, OnlineStoreUnavailable
from services.ensemble.stages import FetchPastItems
from tests.conftest import flushed_db

DB = 9  # a database no other test uses


@pytest.fixture()
def client(redis_server: str) -> Iterator[redis.Redis]:
    with flushed_db(redis_server, DB) as connection:
        yield connection


def stage(client: redis.Redis, build: str = "build-1") -> FetchPastItems:
    op = FetchPastItems(build, users="user_id", past="past_ids")
    op._state = client
    return op


def test_past_items_are_the_union_of_both_sets(client: redis.Redis) -> None:
    client.set(build_key("build-1"), "build-1")
    client.sadd(interactions_key(1, "build-1"), 30, 10)
    client.sadd(interactions_key(1, "build-2"), 40)  # another build's namespace: not read
    client.sadd(online_interactions_key(1), 20, 10)
    client.sadd(online_interactions_key(2), 5)
    out = stage(client).run({"user_id": np.array([1, 2, 3], dtype=np.int32)})
    assert out["past_ids"].tolist() == [[10, 20, 30], [5, -1, -1], [-1, -1, -1]]


@pytest.mark.parametrize("held", [None, "build-0"])
def test_another_or_no_build_in_redis_is_an_error(client: redis.Redis, held: str | None) -> None:
    if held:
        client.set(build_key(held), held)
    with pytest.raises(BuildNotOnline, match="online store does not hold build build-1"):
        stage(client).run({"user_id": np.array([1], dtype=np.int32)})


def test_unreachable_redis_is_unavailable_without_its_address() -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    with pytest.raises(OnlineStoreUnavailable) as caught:
        stage(dead).run({"user_id": np.array([1], dtype=np.int32)})
    assert "127.0.0.1" not in str(caught.value)
    assert str(caught.value) == "online store unavailable (ConnectionError)"


def test_the_build_epoch_counts_the_marker_changes_this_process_saw(client: redis.Redis) -> None:
    """Stages holding online state in memory re-read it when this epoch moves on."""
    op = FetchPastItems("build-1", "user_id", "past_ids", build_epoch="build_epoch")
    op._state = client
    users = {"user_id": np.array([1, 2], dtype=np.int32)}
    client.set(build_key("build-1"), "build-1")
    assert op.run(users)["build_epoch"].tolist() == [0, 0]
    client.set(build_key("build-2"), "build-2")  # another build materialized beside it
    assert op.run(users)["build_epoch"].tolist() == [0, 0]
    client.delete(build_key("build-1"))  # e.g. Redis restarted empty
    with pytest.raises(BuildNotOnline):
        op.run(users)
    client.set(build_key("build-1"), "build-1")  # ours materialized again
    assert op.run(users)["build_epoch"].tolist() == [1, 1]
