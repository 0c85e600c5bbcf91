"""Feast: write the feature tables, apply the definitions and materialize them into Redis.

The build owns the project's keys in Redis: before materializing it deletes every key of
the Feast project, so a rebuild leaves exactly the new tables online (no stale entities).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType

import pandas as pd
import redis

from services.ensemble.contract import ONLINE_BUILD_KEY
from services.ensemble.settings import CONNECTION_ENV, feast_redis_connection
from training.errors import BuildError
from training.schema import ITEM_FEATURES, USER_FEATURES

REPO_SOURCE = Path(__file__).resolve().parent.parent / "feature_repo"
REPO_FILES = ("feature_store.yaml", "features.py")


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


def write_repo(repo_dir: Path, tables: dict[str, pd.DataFrame]) -> None:
    """Copy the checked-in definitions into `repo_dir` and write the tables under data/."""
    (repo_dir / "data").mkdir(parents=True, exist_ok=True)
    for name in REPO_FILES:
        shutil.copy2(REPO_SOURCE / name, repo_dir / name)
    for name, table in tables.items():
        table.to_parquet(repo_dir / "data" / f"{name}.parquet", index=False)


def materialize(repo_dir: Path, redis_url: str) -> dict[str, int]:
    """Apply the definitions, clear the project's online keys, materialize every row.

    The window spans the tables' own timestamps, so no row falls outside it.
    """
    start, end = _time_span(repo_dir / "data")
    with feast_env(repo_dir, redis_url):
        store = open_store(repo_dir)
        store.apply(load_definitions(repo_dir).DEFINITIONS)
        client = check_redis(redis_url)
        deleted = clear_project(client, store.project)
        store.materialize(start - timedelta(seconds=1), end + timedelta(seconds=1))
        written = sum(1 for _ in client.scan_iter(match=b"*" + store.project.encode(), count=1000))
    return {"keys_deleted": deleted, "keys_written": written}


def _time_span(data_dir: Path) -> tuple[datetime, datetime]:
    stamps = pd.concat(
        [pd.read_parquet(path, columns=["event_timestamp"]) for path in data_dir.glob("*.parquet")]
    )["event_timestamp"]
    return stamps.min().to_pydatetime(), stamps.max().to_pydatetime()


def open_store(repo_dir: Path):  # -> feast.FeatureStore (imported lazily: feast is slow to import)
    from feast import FeatureStore

    return FeatureStore(repo_path=str(repo_dir))


@contextlib.contextmanager
def feast_env(repo_dir: Path, redis_url: str) -> Iterator[None]:
    """Feast reads relative source paths from the working directory and its Redis connection
    from the environment: set both for the duration."""
    previous_cwd = Path.cwd()
    previous_env = os.environ.get(CONNECTION_ENV)
    os.environ[CONNECTION_ENV] = feast_redis_connection(redis_url)
    os.environ.setdefault("FEAST_USAGE", "False")
    os.chdir(repo_dir)
    try:
        yield
    finally:
        os.chdir(previous_cwd)
        if previous_env is None:
            os.environ.pop(CONNECTION_ENV, None)
        else:
            os.environ[CONNECTION_ENV] = previous_env


def load_definitions(repo_dir: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "feature_repo_definitions", repo_dir / "features.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def clear_project(client: redis.Redis, project: str) -> int:
    """Delete every key of the Feast project (Feast's Redis keys end with the project name)."""
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=b"*" + project.encode(), count=1000):
        batch.append(key)
        if len(batch) == 1000:
            deleted += client.delete(*batch)
            batch.clear()
    if batch:
        deleted += client.delete(*batch)
    return deleted


def check_redis(redis_url: str) -> redis.Redis:
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise BuildError(f"cannot reach Redis at {redis_url}: {exc}") from exc
    return client


def online_build(redis_url: str) -> str | None:
    """The build id whose online state Redis holds, if any."""
    value = check_redis(redis_url).get(ONLINE_BUILD_KEY)
    return value.decode() if value else None


def now_utc() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)
