"""Items added, changed or retired at run time (online_items.py) against a real Redis: only new
change-log entries are read, retirements reach the live rules' deny set, bad records are
skipped, every listener gets the encoded rows, vectors and proxies; the filter puts a new item
right after its proxy and the final score gives it its proxy's build parts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from services.ensemble.contract import ONLINE_ITEM_CHANGES_KEY, ONLINE_ITEMS_KEY
from services.ensemble.executor import carry_followers
from services.ensemble.live_rules import LiveRules
from services.ensemble.online_items import ItemOverlay, OnlineItems, attach, parse_record
from services.ensemble.rules import Rules
from services.ensemble.stages import EmbedOnlineItems, FetchPastItems, FilterCandidates
from services.ensemble.stages.filter_candidates import with_followers
from services.ensemble.vocabulary import Vocabulary

DB = 4  # a database no other test uses
VOCABULARY = Vocabulary(
    {
        "item_id": (np.array([10, 20]), np.array([3, 4], np.int32), 2),
        "item_category": (np.array([1, 2]), np.array([3, 4], np.int32), 2),
        "item_shop": (np.array([5]), np.array([3], np.int32), 2),
        "item_brand": (np.array([7]), np.array([3], np.int32), 2),
    }
)

CATALOGUE = (np.array([10, 20]), np.array([[3, 3, 3, 3], [4, 4, 3, 2]], np.int32))
"""The build's items, encoded: 20's attributes are those of ATTRIBUTES below."""


def embed(features: np.ndarray) -> np.ndarray:
    """A stand-in for the item tower (our code's edge): the encoded row as floats."""
    return features.astype(np.float32)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[list[int], list[list[int]], list[int]]] = []

    def items_changed(self, ids: Any, features: Any, vectors: Any, proxies: Any) -> None:
        self.calls.append((ids.tolist(), features.tolist(), proxies.tolist()))


@pytest.fixture()
def client(redis_server: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(f"{redis_server}/{DB}")
    client.flushdb()
    yield client
    client.flushdb()


def put(client: redis.Redis, item: int, attributes: dict[str, int] | None, retired: bool = False):  # type: ignore[no-untyped-def]
    record = {"attributes": attributes, "retired": retired, "updated_at": "2026-12-07T00:00:00Z"}
    with client.pipeline(transaction=True) as pipe:
        pipe.hset(ONLINE_ITEMS_KEY, str(item), json.dumps(record))
        pipe.rpush(ONLINE_ITEM_CHANGES_KEY, item)
        pipe.execute()


ATTRIBUTES = {"item_category": 2, "item_shop": 5, "item_brand": 99}


def online(client: redis.Redis, rules: LiveRules | None = None) -> tuple[OnlineItems, Recorder]:
    items = OnlineItems(client, VOCABULARY, embed, rules, lambda line: None, CATALOGUE)
    recorder = Recorder()
    items.listeners = [recorder]
    return items, recorder


def test_added_items_are_encoded_and_a_new_one_gets_the_build_item_most_alike(
    client: redis.Redis,
) -> None:
    items, recorder = online(client)
    put(client, 77, ATTRIBUTES)
    put(client, 10, {"item_category": 1, "item_shop": 5, "item_brand": 7})
    items.refresh()
    # 77: new id -> OOV 2, category 2 -> 4, shop 5 -> 3, brand 99 unseen -> 2; 10 is known
    assert recorder.calls == [([10, 77], [[3, 3, 3, 3], [2, 4, 3, 2]], [10, 20])]
    assert items.applied == 2 and items.added == {10, 77}


def test_only_new_change_log_entries_are_read(client: redis.Redis) -> None:
    items, recorder = online(client)
    put(client, 77, ATTRIBUTES)
    items.refresh()
    items.refresh()  # nothing new: no listener call
    put(client, 78, ATTRIBUTES)
    items.refresh()
    assert [call[0] for call in recorder.calls] == [[77], [78]]


def test_retired_items_are_denied_until_put_again(client: redis.Redis) -> None:
    rules = LiveRules(Rules(frozenset({1})), client, log=lambda line: None)
    items, _ = online(client, rules)
    put(client, 77, ATTRIBUTES)
    put(client, 10, None, retired=True)  # a build item, retired without attributes
    items.refresh()
    assert rules.deny_items == {1, 10} and 10 in rules.deny_array
    put(client, 10, {"item_category": 1, "item_shop": 5, "item_brand": 7})
    items.refresh()
    assert rules.deny_items == {1}


def test_a_log_shorter_than_applied_is_read_again_from_its_start(client: redis.Redis) -> None:
    items, recorder = online(client)
    put(client, 77, ATTRIBUTES)
    put(client, 78, ATTRIBUTES)
    items.refresh()
    client.delete(ONLINE_ITEM_CHANGES_KEY)
    put(client, 79, ATTRIBUTES)
    items.refresh()
    assert recorder.calls[-1][0] == [79] and items.applied == 1


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"[1]",
        b'{"attributes": {"item_category": 1}}',
        b'{"attributes": {"item_category": "1", "item_shop": 1, "item_brand": 1}}',
    ],
)
def test_a_bad_record_is_skipped_and_the_others_apply(client: redis.Redis, raw: bytes) -> None:
    items, recorder = online(client)
    client.hset(ONLINE_ITEMS_KEY, "66", raw)
    client.rpush(ONLINE_ITEM_CHANGES_KEY, 66)
    put(client, 77, ATTRIBUTES)
    items.refresh()
    assert recorder.calls == [([77], [[2, 4, 3, 2]], [20])]


def test_parse_record_never_raises() -> None:
    assert parse_record(None) is None and parse_record(b"\xff") is None
    assert parse_record(b'{"retired": true}') == {"retired": True}


def test_the_change_log_is_read_in_fetch_past_items_round_trip(client: redis.Redis) -> None:
    items, recorder = online(client)
    past = FetchPastItems("b1", "user_id", "past_ids")
    filter_stage = FilterCandidates(2, Rules(), "past_ids", "past_ids", "candidates")
    items.listeners = [filter_stage, recorder]
    assert carry_followers([past, filter_stage], (items,)) == ()
    assert past.followers == (items,)


def test_the_filter_puts_a_new_item_right_after_its_proxy() -> None:
    filter_stage = FilterCandidates(4, Rules(), "retrieved", "past", "candidates")
    filter_stage.items_changed(np.array([77, 78]), None, None, np.array([11, 11]))
    retrieved = np.array([[10, 11, 12, 13], [10, 12, 13, 14]], dtype=np.int32)
    out = filter_stage.run({"retrieved": retrieved, "past": np.array([[78], [-1]])})
    assert out["candidates"].tolist() == [[10, 11, 77, 12], [10, 12, 13, 14]]
    filter_stage.items_changed(np.array([77]), None, None, np.array([13]))  # moved
    out = filter_stage.run({"retrieved": retrieved, "past": np.array([[-1], [-1]])})
    assert out["candidates"].tolist() == [[10, 11, 78, 12], [10, 12, 13, 77]]


def test_with_followers_keeps_each_item_once() -> None:
    rows = with_followers(np.array([[5, 9, 7, -1]], dtype=np.int32), {5: (7,)})
    assert rows.tolist() == [[5, 7, 9, -1]]


def test_the_overlay_keeps_the_latest_row_of_an_id() -> None:
    overlay = ItemOverlay(2, np.int32)
    overlay.update(np.array([5, 3]), np.array([[1, 1], [2, 2]]))
    overlay.update(np.array([5]), np.array([[9, 9]]))
    rows = overlay.rows(np.array([[3, 5, 4]]))
    assert rows[0, 2] == -1
    assert overlay.values[rows[0, :2]].tolist() == [[2, 2], [9, 9]]


def test_a_tower_that_cannot_be_loaded_leaves_serving_and_retirements(
    client: redis.Redis, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "item_tower").mkdir()  # no SavedModel in it
    stage = EmbedOnlineItems(None, "user_id", "applied")
    stage.load_artifacts(str(tmp_path))
    assert stage.state == (None, None, None)
    assert "items added online are not served by this version" in capsys.readouterr().err
    rules = LiveRules(Rules(), client, log=lambda line: None)
    items = attach([stage], client, rules)
    put(client, 77, ATTRIBUTES)
    put(client, 10, None, retired=True)
    items.refresh()
    assert rules.deny_items == {10} and items.added == set()
    assert stage.run({"user_id": np.array([1, 2])})["applied"].tolist() == [2, 2]
