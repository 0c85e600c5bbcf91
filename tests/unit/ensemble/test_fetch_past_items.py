"""FetchPastItems on a real Redis: union of the build's and the online sets, the build check, and
the live rules' counter read in the same round trip."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import redis

from services.ensemble import live_rules
from services.ensemble.contract import (
    INPUT,
    RULES_KEY,
    build_key,
    interactions_key,
    online_interactions_key,
    shown_key,
)
from services.ensemble.executor import Executor, carry_followers
from services.ensemble.live_rules import LiveRules
from services.ensemble.redis_store import BuildNotOnline, OnlineStoreUnavailable
from services.ensemble.rules import Rules
from services.ensemble.stages import FetchPastItems, FilterCandidates
from tests.conftest import flushed_db
from tests.unit.ensemble.test_executor import Doubler

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


def test_shown_items_are_the_past_items_and_the_builds_shown_set(client: redis.Redis) -> None:
    """Builds that remove (or read) every shown item get them beside the clicked ones; the
    online clicks count as shown."""
    client.set(build_key("build-1"), "build-1")
    client.sadd(interactions_key(1, "build-1"), 10)
    client.sadd(shown_key(1, "build-1"), 11, 12)
    client.sadd(shown_key(1, "build-2"), 13)  # another build's: not read
    client.sadd(online_interactions_key(1), 20)
    client.sadd(shown_key(2, "build-1"), 7)
    op = FetchPastItems("build-1", "user_id", "past_ids", shown="shown_ids")
    op._state = client
    out = op.run({"user_id": np.array([1, 2, 3], dtype=np.int32)})
    assert out["past_ids"].tolist() == [[10, 20], [-1, -1], [-1, -1]]
    assert out["shown_ids"].tolist() == [[10, 11, 12, 20], [7, -1, -1, -1], [-1, -1, -1, -1]]
    assert "shown_ids" not in stage(client).run({"user_id": np.array([1], dtype=np.int32)})


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


def hget_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats").get("cmdstat_hget", {})
    return int(stats.get("calls", 0))


def test_the_live_rules_ride_in_the_same_round_trip(client: redis.Redis) -> None:
    """The executor gives FetchPastItems the rules' counter read: a pass applies new rules with
    no round trip of its own, and a pass reads the counter once."""
    client.set(build_key("build-1"), "build-1")
    client.sadd(interactions_key(1, "build-1"), 10)
    lines: list[str] = []
    live = LiveRules(Rules(frozenset({1}), 0), client, lines.append)
    past, denied = stage(client), FilterCandidates(2, live, "retrieved", "past_ids", "candidates")
    assert carry_followers([past, denied], (live,)) == () and past.followers == (live,)
    executor = Executor([past, Doubler()], live)
    assert past.run({INPUT: np.array([1], dtype=np.int32)})["past_ids"].tolist() == [[10]]
    assert live.deny_items == {1} and lines == []  # the exported rules, nothing to log
    live_rules.write(client, Rules(frozenset({7}), 2))
    before = hget_calls(client)
    executor.answer(np.array([1], dtype=np.int32))
    assert hget_calls(client) == before + 1  # the stage's, not another of refresh()
    assert (live.deny_items, live.max_per_category) == ({7}, 2)
    assert lines[-1] == "rules version 1 applied: 1 denied items, 2 cap per category"


def test_rules_of_the_wrong_type_are_refused_and_the_pass_still_answers(
    client: redis.Redis,
) -> None:
    client.set(build_key("build-1"), "build-1")
    client.set(RULES_KEY, "not a hash")
    lines: list[str] = []
    live = LiveRules(Rules(), client, lines.append)
    past = stage(client)
    past.followers = (live,)
    assert past.run({"user_id": np.array([1], dtype=np.int32)})["past_ids"].tolist() == [[-1]]
    assert len(lines) == 1 and "not a hash" in lines[0]


def test_a_set_of_the_wrong_type_still_fails_the_pass_when_the_rules_ride(
    client: redis.Redis,
) -> None:
    client.set(build_key("build-1"), "build-1")
    client.set(interactions_key(1, "build-1"), "not a set")
    past = stage(client)
    past.followers = (LiveRules(Rules(), client, [].append),)
    with pytest.raises(OnlineStoreUnavailable, match="ResponseError"):
        past.run({"user_id": np.array([1], dtype=np.int32)})


def test_the_executor_keeps_its_own_read_when_a_rules_reader_runs_first(
    client: redis.Redis,
) -> None:
    live = LiveRules(Rules(), client, [].append)
    reader = FilterCandidates(2, live, "retrieved", "past_ids", "candidates")
    past = stage(client)
    assert carry_followers([reader, past], (live,)) == (live,)
    assert past.followers == ()
