"""Durable online state on a real Redis: a build or materialize never deletes online
interactions nor another build's namespace, never leaves a known user missing while it runs,
removes what its build no longer has; the private Redis of `make run` keeps its state across a
kill; `make run`'s online-state step refills a Redis that lost it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import redis
from feast.infra.online_stores.helpers import _mmh3, _redis_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value

from deploy.stack import StackSettings, ensure_online_state, ensure_redis, read_pid
from deploy.triton.launch import terminate_group
from services.ensemble.contract import (
    ONLINE_BUILD_KEY,
    ONLINE_ITEM_CHANGES_KEY,
    ONLINE_ITEMS_KEY,
    ONLINE_USERS_KEY,
    build_key,
    build_prefix,
    feast_project,
    interactions_key,
    online_interactions_key,
)
from tests.conftest import REPO_ROOT, free_port
from training.build import feature_store, interactions
from training.build.artifacts import ARTIFACTS
from training.build.manifest import build_id as build_id_of
from training.build.materialize import materialize

UNKNOWN_USER = 99_999_999


def fresh_db(redis_server: str, db: int) -> tuple[str, redis.Redis]:
    url = f"{redis_server}/{db}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    return url, client


def known_users(build_dir: Path, count: int) -> list[int]:
    pairs = pd.read_parquet(build_dir / ARTIFACTS["interactions"])
    return sorted(pairs["user_id"].unique().tolist())[:count]


def user_key(user: int, build_id: str) -> bytes:
    """Feast 0.31's Redis key of a user's features in build `build_id`'s project (v2)."""
    entity = EntityKey(join_keys=["user_id"], entity_values=[Value(int32_val=user)])
    key: bytes = _redis_key(feast_project(build_id), entity, 2)
    return key


def dump(client: redis.Redis) -> dict[bytes, object]:
    """Every key's value, whatever its type."""
    state: dict[bytes, object] = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"hash":
            state[key] = client.hgetall(key)
        elif kind == b"set":
            state[key] = client.smembers(key)
        elif kind == b"zset":
            state[key] = client.zrange(key, 0, -1)  # members (scores: materialize times)
        else:
            state[key] = client.get(key)
    return state


def test_online_interactions_survive_a_build_write_and_a_materialize(
    build_dir: Path, redis_server: str
) -> None:
    url, client = fresh_db(redis_server, 4)
    build_id = build_id_of(build_dir)
    materialize(build_dir, url, build_id)
    user = known_users(build_dir, 1)[0]
    client.sadd(online_interactions_key(user), 101, 102)
    client.sadd(online_interactions_key(UNKNOWN_USER), 103)
    # another build's namespace (e.g. the version being served while this one is deployed)
    client.sadd(interactions_key(user, "other-build"), 9)
    client.hset(user_key(user, "other-build"), b"field", b"value")
    client.set(build_key("other-build"), "other-build")

    interactions.write(client, pd.Series({user: [1, 2]}), build_id)
    materialize(build_dir, url, build_id)

    assert client.smembers(online_interactions_key(user)) == {b"101", b"102"}
    assert client.smembers(online_interactions_key(UNKNOWN_USER)) == {b"103"}
    assert client.get(ONLINE_BUILD_KEY) == build_id.encode()
    assert client.exists(interactions_key(user, build_id)) == 1
    assert client.smembers(interactions_key(user, "other-build")) == {b"9"}
    assert client.hgetall(user_key(user, "other-build")) == {b"field": b"value"}
    assert client.get(build_key("other-build")) == b"other-build"


def test_a_reader_never_misses_a_known_user_during_materialize(
    build_dir: Path, redis_server: str
) -> None:
    url, client = fresh_db(redis_server, 5)
    build_id = build_id_of(build_dir)
    materialize(build_dir, url, build_id)
    users = known_users(build_dir, 5)
    feature_keys = [user_key(user, build_id) for user in users]
    age = _mmh3("user_features:user_age")
    set_keys = [interactions_key(user, build_id) for user in users]
    polls, misses = 0, []
    done = threading.Event()

    def poll() -> None:
        nonlocal polls
        while not done.is_set():
            with client.pipeline(transaction=False) as pipe:
                for key in feature_keys:
                    pipe.hexists(key, age)
                pipe.exists(*set_keys)
                *found, present = pipe.execute()
            polls += 1
            if not all(found) or present != len(set_keys):
                misses.append((found, present))

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        materialize(build_dir, url, build_id)
    finally:
        done.set()
        thread.join(timeout=10)
    assert polls > 20, polls
    assert misses == [], misses[:5]


def test_stale_entities_and_sets_are_gone_afterwards(build_dir: Path, redis_server: str) -> None:
    url, client = fresh_db(redis_server, 6)
    build_id = build_id_of(build_dir)
    materialize(build_dir, url, build_id)
    repo = build_dir / ARTIFACTS["feature_repo"]
    with feature_store.feast_env(repo, url):
        store = feature_store.open_store(repo)
        before = feature_store.build_keys(store)
    stale_key = user_key(UNKNOWN_USER, build_id)
    client.hset(stale_key, b"field", b"value")
    client.sadd(interactions_key(UNKNOWN_USER, build_id), 7)
    client.sadd(online_interactions_key(UNKNOWN_USER), 8)
    others = [user_key(UNKNOWN_USER, "other-build"), interactions_key(UNKNOWN_USER, "other-build")]
    client.hset(others[0], b"field", b"value")
    client.sadd(others[1], 7)

    result = materialize(build_dir, url, build_id)

    assert client.exists(stale_key) == 0
    assert client.exists(interactions_key(UNKNOWN_USER, build_id)) == 0
    assert client.smembers(online_interactions_key(UNKNOWN_USER)) == {b"8"}
    assert client.exists(*others) == 2  # another build's namespace: never this one's to clean
    assert result["keys_deleted"] == 1 and result["interactions"]["keys_deleted"] == 1
    assert set(feature_store.project_keys(client, feast_project(build_id))) == before


def test_materializing_twice_gives_the_same_state(build_dir: Path, redis_server: str) -> None:
    url, client = fresh_db(redis_server, 7)
    build_id = build_id_of(build_dir)
    materialize(build_dir, url, build_id)
    first = dump(client)
    materialize(build_dir, url, build_id)
    assert dump(client) == first
    users = pd.read_parquet(build_dir / ARTIFACTS["interactions"])["user_id"].nunique()
    match = f"{build_prefix(build_id)}interactions:*"
    assert len(list(client.scan_iter(match=match))) == users


@pytest.fixture()
def stack_settings(tmp_path: Path, build_dir: Path) -> Iterator[StackSettings]:
    settings = StackSettings(build_dir=build_dir, run_dir=tmp_path / "run", redis_port=free_port())
    settings.run_dir.mkdir()
    try:
        yield settings
    finally:
        pid = read_pid(settings.pid_file("redis"))
        if pid is not None:
            terminate_group(pid, timeout=10.0)


def test_private_redis_keeps_its_state_across_a_kill(stack_settings: StackSettings) -> None:
    url = ensure_redis(stack_settings)
    client = redis.Redis.from_url(url)
    client.sadd(online_interactions_key(1), 5)
    client.set(ONLINE_BUILD_KEY, "build-1")
    client.hset(ONLINE_ITEMS_KEY, "9000001", '{"attributes": null, "retired": true}')
    client.rpush(ONLINE_ITEM_CHANGES_KEY, 9000001)
    client.hset(ONLINE_USERS_KEY, "8000001", '{"attributes": {}}')
    time.sleep(1.5)  # appendfsync everysec
    pid = read_pid(stack_settings.pid_file("redis"))
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.3)

    assert ensure_redis(stack_settings) == url
    assert read_pid(stack_settings.pid_file("redis")) != pid
    assert client.smembers(online_interactions_key(1)) == {b"5"}
    assert client.get(ONLINE_BUILD_KEY) == b"build-1"
    assert client.hkeys(ONLINE_ITEMS_KEY) == [b"9000001"]  # items and users added online
    assert client.lrange(ONLINE_ITEM_CHANGES_KEY, 0, -1) == [b"9000001"]
    assert client.hkeys(ONLINE_USERS_KEY) == [b"8000001"]
    assert (stack_settings.run_dir / "redis" / "appendonlydir").is_dir()


def test_make_run_refills_a_redis_that_lost_the_state(
    stack_settings: StackSettings, build_dir: Path
) -> None:
    url = ensure_redis(stack_settings)
    client = redis.Redis.from_url(url)
    build_id = build_id_of(build_dir)
    assert "holds no online state" in str(
        feature_store.missing_online_state(build_dir, url, build_id)
    )

    ensure_online_state(stack_settings, url, build_id)
    assert feature_store.missing_online_state(build_dir, url, build_id) is None

    # the marker alone is not taken for the state
    client.set(build_key(build_id), build_id)
    client.delete(interactions_key(known_users(build_dir, 1)[0], build_id))
    assert "interaction sets are missing" in str(
        feature_store.missing_online_state(build_dir, url, build_id)
    )


def test_make_triton_without_redis_url_or_a_running_redis_fails_with_one_line(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["RUN_DIR"] = str(tmp_path / "run")
    result = subprocess.run(
        [sys.executable, "-m", "deploy.stack", "triton"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no Redis to serve from"), result.stderr
