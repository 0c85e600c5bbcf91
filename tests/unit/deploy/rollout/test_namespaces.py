"""Garbage collection of old builds on a real Redis: only namespaces no kept version serves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from deploy.rollout import namespaces, versions
from services.ensemble.contract import (
    BUILD_FILE,
    BUILDS_KEY,
    ONLINE_BUILD_KEY,
    build_key,
    feast_project,
    interactions_key,
    online_interactions_key,
)
from tests.conftest import flushed_db

DB = 13  # a database no other test uses
BUILDS = ["2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00", "2026-01-03T00:00:00+00:00"]


@pytest.fixture()
def client(redis_server: str) -> Iterator[redis.Redis]:
    with flushed_db(redis_server, DB) as connection:
        yield connection


def materialized(client: redis.Redis, build_id: str, at: float) -> None:
    client.set(build_key(build_id), build_id)
    client.hset(b"\x01\x02" + feast_project(build_id).encode(), b"f", b"v")
    client.sadd(interactions_key(7, build_id), 1)
    client.zadd(BUILDS_KEY, {build_id: at})


def exported(model_dir: Path, version: int, build_id: str) -> None:
    (model_dir / str(version)).mkdir(parents=True)
    (model_dir / str(version) / BUILD_FILE).write_text(json.dumps({"build_id": build_id}))


def test_keeps_the_newest_and_the_loaded_builds_and_never_online_interactions(
    client: redis.Redis, tmp_path: Path
) -> None:
    model_dir = tmp_path / "executor_model"
    for version, build_id in enumerate(BUILDS, start=1):
        materialized(client, build_id, at=version)
        exported(model_dir, version, build_id)
    client.sadd(online_interactions_key(7), 5)
    client.set(ONLINE_BUILD_KEY, BUILDS[2])

    done = namespaces.collect(client, model_dir, keep=1, loaded=[3])

    assert versions.version_dirs(model_dir) == [3]
    assert client.exists(build_key(BUILDS[0]), build_key(BUILDS[1])) == 0
    assert client.keys(b"*" + feast_project(BUILDS[0]).encode()) == []
    assert client.exists(interactions_key(7, BUILDS[0])) == 0
    assert client.exists(build_key(BUILDS[2]), interactions_key(7, BUILDS[2])) == 2
    assert client.smembers(online_interactions_key(7)) == {b"5"}
    assert [m.decode() for m in client.zrange(BUILDS_KEY, 0, -1)] == [BUILDS[2]]
    assert len(done) == 4, done


def test_a_loaded_version_and_a_fresh_build_are_kept(client: redis.Redis, tmp_path: Path) -> None:
    """The loaded version 1 is old but serves; build 3 is materialized, not yet deployed."""
    model_dir = tmp_path / "executor_model"
    for version, build_id in enumerate(BUILDS[:2], start=1):
        materialized(client, build_id, at=version)
        exported(model_dir, version, build_id)
    materialized(client, BUILDS[2], at=3)
    client.set(ONLINE_BUILD_KEY, BUILDS[0])

    namespaces.collect(client, model_dir, keep=1, loaded=[1])

    assert versions.version_dirs(model_dir) == [1, 2]  # newest folder + the loaded one
    assert client.exists(*(build_key(b) for b in BUILDS)) == 3
