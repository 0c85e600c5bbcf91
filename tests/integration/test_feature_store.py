"""Materializing into real Redis through real Feast: a rebuild leaves the same online state, and
each build writes its own project's keys beside the others'."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import redis

from services.ensemble.contract import feast_project
from training.build import feature_store
from training.build.artifacts import ARTIFACTS

BUILD = "2026-01-01T00:00:00+00:00"
PROJECT = feast_project(BUILD).encode()


def online_state(client: redis.Redis, project: bytes = PROJECT) -> dict[bytes, dict[bytes, bytes]]:
    """Every hash of the project, without Feast's write timestamps."""
    state = {}
    for key in client.scan_iter(match=b"*" + project):
        fields = client.hgetall(key)
        state[key] = {k: v for k, v in fields.items() if not k.startswith(b"_ts:")}
    return state


@pytest.fixture()
def repo(tmp_path: Path, build_dir: Path) -> Path:
    copy = tmp_path / "feature_repo"
    shutil.copytree(build_dir / ARTIFACTS["feature_repo"], copy)
    return copy


def test_rebuilding_leaves_the_same_online_state(repo: Path, redis_server: str) -> None:
    url = f"{redis_server}/2"
    client = redis.Redis.from_url(url)
    client.flushdb()
    users_path = repo / "data" / "user_features.parquet"
    users = pd.read_parquet(users_path)
    first_time = users["event_timestamp"].max()

    feature_store.materialize(repo, url, BUILD)
    first = online_state(client)
    assert len(first) == len(users) + len(pd.read_parquet(repo / "data" / "item_features.parquet"))

    extra = users.tail(1).assign(user_id=users["user_id"].max() + 1)
    pd.concat([users, extra]).to_parquet(users_path, index=False)
    feature_store.materialize(repo, url, BUILD)
    assert len(online_state(client)) == len(first) + 1

    later = first_time + timedelta(days=3)
    users.assign(event_timestamp=later, created=later).to_parquet(users_path, index=False)
    items_path = repo / "data" / "item_features.parquet"
    pd.read_parquet(items_path).assign(event_timestamp=later, created=later).to_parquet(items_path)
    result = feature_store.materialize(repo, url, BUILD)
    assert online_state(client) == first
    assert result["keys_written"] == len(first)


def test_an_older_build_replaces_a_newer_ones_values(repo: Path, redis_server: str) -> None:
    """Feast skips rows not newer than what Redis holds: materialize must write them anyway."""
    url = f"{redis_server}/2"
    client = redis.Redis.from_url(url)
    client.flushdb()
    users_path = repo / "data" / "user_features.parquet"
    users = pd.read_parquet(users_path)
    feature_store.materialize(repo, url, BUILD)
    first = online_state(client)

    later = users["event_timestamp"].max() + timedelta(days=3)
    changed = users.assign(user_age=users["user_age"] + 1, event_timestamp=later, created=later)
    changed.to_parquet(users_path, index=False)
    feature_store.materialize(repo, url, BUILD)
    assert online_state(client) != first

    users.to_parquet(users_path, index=False)
    feature_store.materialize(repo, url, BUILD)
    assert online_state(client) == first


def test_project_keys_are_only_the_projects_own(redis_server: str) -> None:
    client = redis.Redis.from_url(f"{redis_server}/3")
    client.flushdb()
    client.set(b"\x01\x02" + PROJECT, b"x")
    client.set(b"\x03" + PROJECT, b"y")
    client.set(b"unrelated", b"z")
    keys = set(feature_store.project_keys(client, PROJECT.decode()))
    assert keys == {b"\x01\x02" + PROJECT, b"\x03" + PROJECT}
    assert feature_store.delete_keys(client, keys) == 2
    assert client.keys() == [b"unrelated"]


def test_two_builds_keep_their_own_keys(repo: Path, redis_server: str, tmp_path: Path) -> None:
    """Build B's materialize writes B's project beside A's, and leaves A's keys as they were."""
    url = f"{redis_server}/2"
    client = redis.Redis.from_url(url)
    client.flushdb()
    feature_store.materialize(repo, url, BUILD)
    first = online_state(client)
    other = tmp_path / "other_repo"
    shutil.copytree(repo, other)
    feature_store.materialize(other, url, "2026-01-02T00:00:00+00:00")
    assert online_state(client) == first
    second = online_state(client, feast_project("2026-01-02T00:00:00+00:00").encode())
    assert len(second) == len(first)
    assert (
        "project: multi_stage_recsys_20260102t0000000000"
        in (other / "feature_store.yaml").read_text()
    )
