"""`python -m training export-online`: what the gateway wrote online, read from a real Redis,
as files a build reads; online clicks join the previous data's train split as clicked rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import redis

from services.ensemble.contract import (
    ITEM_FEATURES,
    ONLINE_ITEMS_KEY,
    ONLINE_USERS_KEY,
    USER_FEATURES,
    online_interactions_key,
)
from training import cli
from training.data import raw_data

DB = 4  # shared with test_online_items.py: each flushes it before and after


@pytest.fixture()
def client(redis_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(f"{redis_server}/{DB}")
    client.flushdb()
    monkeypatch.setenv("REDIS_URL", f"{redis_server}/{DB}")
    yield client
    client.flushdb()


def record(attributes: dict[str, int], retired: bool = False) -> str:
    return json.dumps({"attributes": attributes, "retired": retired, "updated_at": "x"})


def previous_data(folder: Path) -> raw_data.RawData:
    data = raw_data.generate("planted", 400, 1)
    for split in ("train", "valid"):
        (folder / split).mkdir(parents=True)
        getattr(data, split).to_parquet(folder / split / "part.parquet", index=False)
    return data


def test_online_items_users_and_clicks_reach_the_next_builds_data(
    client: redis.Redis, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    previous = previous_data(tmp_path / "previous")
    known_user = int(previous.train["user_id"].iloc[0])
    known_item = int(previous.train["item_id"].iloc[0])
    item = dict.fromkeys(ITEM_FEATURES, 3)
    user = dict.fromkeys(USER_FEATURES, 4)
    client.hset(ONLINE_ITEMS_KEY, "9000001", record(item))
    client.hset(ONLINE_ITEMS_KEY, "9000002", record(item, retired=True))
    client.hset(ONLINE_ITEMS_KEY, "9000003", "{not json")
    client.hset(ONLINE_USERS_KEY, "8000001", record(user))
    client.sadd(online_interactions_key(8000001), 9000001, known_item)
    client.sadd(online_interactions_key(known_user), 9000001)
    client.sadd(online_interactions_key(7000000), 9000001)  # a user nobody knows: skipped

    out = tmp_path / "next"
    assert cli.main(["export-online", "--out", str(out), "--data", str(tmp_path / "previous")]) == 0
    assert "2 items, 1 users, 4 clicks; 3 clicks added to train" in capsys.readouterr().out

    items = pd.read_parquet(out / "online" / "items.parquet")
    assert items.set_index("item_id")["retired"].to_dict() == {9000001: False, 9000002: True}
    loaded = raw_data.load(out)  # the build's own reader accepts it
    assert len(loaded.train) == len(previous.train) + 3
    assert len(loaded.valid) == len(previous.valid)
    added = pd.read_parquet(out / "train" / "online_clicks.parquet")
    assert len(added) == 3 and (added["click"] == 1).all()
    new_user = added.loc[added["user_id"] == 8000001].set_index("item_id")
    assert new_user.loc[9000001, list(ITEM_FEATURES)].tolist() == [3, 3, 3]
    assert new_user.loc[9000001, list(USER_FEATURES)].tolist() == [4] * len(USER_FEATURES)
    known = previous.train.loc[previous.train["item_id"] == known_item].iloc[-1]
    assert new_user.loc[known_item, "item_category"] == known["item_category"]


def test_a_non_empty_out_is_refused_before_redis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    (tmp_path / "kept.txt").write_text("x")
    assert cli.main(["export-online", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"error: --out {tmp_path} exists and is not empty")


def test_redis_down_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    assert cli.main(["export-online", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: Redis at REDIS_URL failed: ConnectionError"
    ]
