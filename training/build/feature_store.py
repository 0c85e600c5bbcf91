"""Feast: write the feature tables, apply the definitions and materialize them into Redis.

Each build is its own Feast project (`contract.feast_project(build_id)`, set in the build's
feature_store.yaml): Feast's Redis keys end with the project name, so a build's keys never
collide with those of another build a served model version reads. Materializing the same build
again overwrites every entity's hash in place (a reader sees the old or the new values, never a
missing entity), and only afterwards deletes the keys of its entities the build no longer has.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, cast

import pandas as pd
import redis

from services.ensemble.contract import build_key, feast_project, interactions_key
from services.ensemble.redis_store import REDIS_ERRORS, client_from_url, count_existing, delete_each
from services.ensemble.settings import (
    CONNECTION_ENV,
    REDIS_TYPE_ENV,
    feast_redis_connection,
    feast_redis_type,
)
from training.data.schema import ITEM_FEATURES, USER_FEATURES
from training.errors import BuildError

if TYPE_CHECKING:
    from feast import FeatureStore

REPO_SOURCE = Path(__file__).resolve().parents[2] / "feature_repo"
REPO_FILES = ("feature_store.yaml", "features.py")
BATCH_KEYS = 1_000


def feature_tables(encoded: pd.DataFrame, event_time: datetime) -> dict[str, pd.DataFrame]:
    """One row per user and per item (the last seen), keyed by catalogue id, encoded values."""
    users = encoded.drop_duplicates("user_id_raw", keep="last")
    users = users[["user_id_raw", "user_id", *USER_FEATURES]].rename(
        columns={"user_id": "user_id_encoded", "user_id_raw": "user_id"}
    )
    items = encoded.drop_duplicates("item_id_raw", keep="last")
    items = items[["item_id_raw", "item_id", *ITEM_FEATURES]].rename(
        columns={"item_id": "item_id_encoded", "item_id_raw": "item_id"}
    )
    return {
        "user_features": _stamped(users, event_time),
        "item_features": _stamped(items, event_time),
    }


def _stamped(table: pd.DataFrame, event_time: datetime) -> pd.DataFrame:
    table = table.sort_values(table.columns[0]).reset_index(drop=True).astype("int32")
    table["event_timestamp"] = pd.Timestamp(event_time)
    table["created"] = pd.Timestamp(event_time)
    return table


def write_repo(repo_dir: Path, tables: dict[str, pd.DataFrame], build_id: str) -> None:
    """Copy the checked-in definitions into `repo_dir` (as build `build_id`'s project) and
    write the tables under data/."""
    (repo_dir / "data").mkdir(parents=True, exist_ok=True)
    for name in REPO_FILES:
        shutil.copy2(REPO_SOURCE / name, repo_dir / name)
    set_project(repo_dir, feast_project(build_id))
    for name, table in tables.items():
        table.to_parquet(repo_dir / "data" / f"{name}.parquet", index=False)


PROJECT_LINE = re.compile(r"^project:.*$", re.MULTILINE)


def set_project(repo_dir: Path, project: str) -> bool:
    """Name the repo's Feast project `project` in its feature_store.yaml; True if it changed
    (a build made before projects were per build is renamed on its next materialize)."""
    path = repo_dir / "feature_store.yaml"
    text = path.read_text()
    updated = PROJECT_LINE.sub(f"project: {project}", text, count=1)
    if updated == text:
        return False
    path.write_text(updated)
    return True


def ensure_project(repo_dir: Path, build_id: str, redis_url: str) -> None:
    """The repo names build `build_id`'s project and its registry holds that project (applied
    if the name changed; applying writes no Redis key)."""
    if set_project(repo_dir, feast_project(build_id)):
        with feast_env(repo_dir, redis_url):
            open_store(repo_dir).apply(load_definitions(repo_dir).DEFINITIONS)


def materialize(repo_dir: Path, redis_url: str, build_id: str) -> dict[str, int]:
    """Apply the definitions as build `build_id`'s project, overwrite every row's hash, then
    delete the keys of the project's entities the build does not have (no other project's).

    The window spans the tables' own timestamps, so no row falls outside it. Feast skips a row
    whose stored timestamp is not older than the row's; the stored timestamps are dropped first
    (the feature values stay readable), so every row is written again.
    """
    start, end = _time_span(repo_dir / "data")
    set_project(repo_dir, feast_project(build_id))
    with feast_env(repo_dir, redis_url):
        store = open_store(repo_dir)
        store.apply(load_definitions(repo_dir).DEFINITIONS)
        client = check_redis(redis_url)
        wanted = build_keys(store)
        before = set(project_keys(client, store.project))
        views = [view.name for view in store.list_feature_views()]
        forget_timestamps(client, before & wanted, views)
        store.materialize(start - timedelta(seconds=1), end + timedelta(seconds=1))
        deleted = delete_keys(client, before - wanted)
        written = sum(1 for _ in project_keys(client, store.project))
    return {"keys_deleted": deleted, "keys_written": written}


def build_keys(store: FeatureStore) -> set[bytes]:  # cwd = the store's repo
    """The Redis key of every entity in the feature views' sources (Feast's own encoding)."""
    from feast.infra.online_stores.helpers import _redis_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    version = store.config.entity_key_serialization_version
    keys: set[bytes] = set()
    for view in store.list_feature_views():
        join_key = store.get_entity(view.entities[0]).join_key
        ids = pd.read_parquet(view.batch_source.path, columns=[join_key])[join_key].unique()
        for entity in ids.tolist():
            entity_key = EntityKey(join_keys=[join_key], entity_values=[Value(int32_val=entity)])
            keys.add(_redis_key(store.project, entity_key, version))
    return keys


def forget_timestamps(client: redis.Redis, keys: set[bytes], views: list[str]) -> None:
    fields = [f"_ts:{view}" for view in views]
    with client.pipeline(transaction=False) as pipe:
        for count, key in enumerate(keys, start=1):
            pipe.hdel(key, *fields)
            if count % BATCH_KEYS == 0:
                pipe.execute()
        pipe.execute()


def _time_span(data_dir: Path) -> tuple[datetime, datetime]:
    stamps = pd.concat(
        [pd.read_parquet(path, columns=["event_timestamp"]) for path in data_dir.glob("*.parquet")]
    )["event_timestamp"]
    return stamps.min().to_pydatetime(), stamps.max().to_pydatetime()


def open_store(repo_dir: Path) -> FeatureStore:  # feast is imported lazily: it is slow to import
    from feast import FeatureStore

    return cast(FeatureStore, FeatureStore(repo_path=str(repo_dir)))  # feast's __init__ is untyped


@contextlib.contextmanager
def feast_env(repo_dir: Path, redis_url: str) -> Iterator[None]:
    """Feast reads relative source paths from the working directory and its Redis connection
    from the environment: set both for the duration."""
    previous_cwd = Path.cwd()
    values = {CONNECTION_ENV: feast_redis_connection(redis_url)}
    values[REDIS_TYPE_ENV] = feast_redis_type(redis_url)
    previous_env = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    os.environ.setdefault("FEAST_USAGE", "False")
    os.chdir(repo_dir)
    try:
        yield
    finally:
        os.chdir(previous_cwd)
        for name, previous in previous_env.items():
            if previous is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = previous


def load_definitions(repo_dir: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "feature_repo_definitions", repo_dir / "features.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def project_keys(client: redis.Redis, project: str) -> Iterator[bytes]:
    """Every key of the Feast project (Feast's Redis keys end with the project name)."""
    return client.scan_iter(match=b"*" + project.encode(), count=1000)  # type: ignore[no-any-return]


def delete_keys(client: redis.Redis, keys: Iterable[bytes | str]) -> int:
    return delete_each(client, keys, BATCH_KEYS)


def check_redis(redis_url: str) -> redis.Redis:
    client = client_from_url(redis_url, connect_timeout_s=5)
    try:
        client.ping()
    except REDIS_ERRORS as exc:
        raise BuildError(f"cannot reach Redis at {redis_url}: {exc}") from exc
    return client


def missing_online_state(build_dir: Path, redis_url: str, build_id: str) -> str | None:
    """None when Redis holds build `build_id`'s online state, else what is missing, in words.

    Checks the build's marker, then every entity key and every user's interaction set of the
    build (pipelined EXISTS: well under a second for 100k users), so a Redis restarted empty
    or a marker left without its data is seen.
    """
    client = check_redis(redis_url)
    if client.get(build_key(build_id)) is None:
        return f"Redis holds no online state of build {build_id}"
    repo_dir = build_dir / "feature_repo"
    ensure_project(repo_dir, build_id, redis_url)
    with feast_env(repo_dir, redis_url):
        feature_keys = build_keys(open_store(repo_dir))
    absent = count_missing(client, feature_keys)
    if absent:
        return f"{absent} of the build's {len(feature_keys)} feature keys are missing"
    users = pd.read_parquet(build_dir / "interactions.parquet", columns=["user_id"])["user_id"]
    set_keys = {interactions_key(int(user), build_id) for user in users.unique().tolist()}
    absent = count_missing(client, set_keys)
    if absent:
        return f"{absent} of the build's {len(set_keys)} interaction sets are missing"
    return None


def count_missing(client: redis.Redis, keys: Iterable[bytes | str]) -> int:
    batch = list(keys)
    return len(batch) - count_existing(client, batch, BATCH_KEYS)


def now_utc() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)
