"""The online store: the direct Redis reader and the Feast SDK reader agree; the catalogue's
item features held in memory equal Feast's and follow a new materialize."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loadtests.in_process import load_exported, recommend
from services.ensemble.executor import Executor
from services.ensemble.online_store import open_reader
from services.ensemble.settings import EnsembleSettings
from services.ensemble.stages import FetchCatalogueFeatures
from training.build.artifacts import ARTIFACTS


@pytest.mark.parametrize(
    ("view", "key"), [("user_features", "user_id"), ("item_features", "item_id")]
)
def test_direct_redis_reads_equal_feast_reads(
    build_dir: Path, redis_url: str, view: str, key: str
) -> None:
    repo = build_dir / ARTIFACTS["feature_repo"]
    table = pd.read_parquet(repo / "data" / f"{view}.parquet")
    ids = np.concatenate([table[key].to_numpy()[:40], [-1, 0, table[key].max() + 1]]).astype(
        np.int32
    )
    redis_reader, spec = open_reader(
        repo, view, EnsembleSettings(redis_url=redis_url, feature_reader="redis")
    )
    feast_reader, _ = open_reader(
        repo, view, EnsembleSettings(redis_url=redis_url, feature_reader="feast")
    )

    direct_values, direct_found = redis_reader.read(spec, ids)
    feast_values, feast_found = feast_reader.read(spec, ids)

    assert direct_found.tolist() == feast_found.tolist() == [True] * 40 + [False] * 3
    np.testing.assert_array_equal(direct_values, feast_values)
    expected = table.set_index(key).loc[ids[:40], list(spec.features)].to_numpy()
    np.testing.assert_array_equal(direct_values[:40], expected)
    assert (direct_values[40:] == 0).all()


def test_feature_store_is_opened_without_touching_the_environment_or_cwd(
    build_dir: Path, redis_url: str
) -> None:
    import os

    from services.ensemble.online_store import open_feature_store
    from services.ensemble.settings import feast_redis_connection

    environment, cwd = dict(os.environ), os.getcwd()
    store = open_feature_store(build_dir / ARTIFACTS["feature_repo"], redis_url)
    assert store.config.online_store.connection_string == feast_redis_connection(redis_url)
    assert store.get_feature_view("user_features").name == "user_features"
    assert dict(os.environ) == environment and os.getcwd() == cwd


MEMORY_DB = 5  # a database no other test uses: this test rewrites item features


@pytest.fixture()
def own_db(build_dir: Path, redis_server: str) -> Iterator[str]:
    """The session build materialized into its own database."""
    import redis

    from services.ensemble.graph import build_id
    from training.build.materialize import materialize

    url = f"{redis_server}/{MEMORY_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    materialize(build_dir, url, build_id(build_dir))
    try:
        yield url
    finally:
        client.flushdb()


def catalogue_stage(executor: Executor) -> FetchCatalogueFeatures:
    return next(s for s in executor.stages if isinstance(s, FetchCatalogueFeatures))


def feast_values(repo: Path, url: str, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    reader, spec = open_reader(
        repo, "item_features", EnsembleSettings(redis_url=url, feature_reader="feast")
    )
    return reader.read(spec, ids)


def test_item_features_in_memory_equal_feast_and_follow_a_new_materialize(
    model_repository: Path, build_dir: Path, own_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    from services.ensemble.contract import build_key
    from services.ensemble.graph import build_id
    from services.ensemble.online_store import open_feature_store
    from services.ensemble.redis_store import BuildNotOnline

    monkeypatch.setenv("REDIS_URL", own_db)
    monkeypatch.delenv("RECSYS_ITEM_FEATURES", raising=False)
    executor = load_exported(model_repository)
    catalogue = catalogue_stage(executor).state[2]
    repo = build_dir / ARTIFACTS["feature_repo"]
    table = pd.read_parquet(repo / "data" / "item_features.parquet")
    assert catalogue.ids.tolist() == sorted(table["item_id"].unique().tolist())
    values, found = feast_values(repo, own_db, catalogue.ids)
    assert found.all()
    np.testing.assert_array_equal(catalogue.values, values)
    user = int(pd.read_parquet(repo / "data" / "user_features.parquet")["user_id"].iloc[0])
    recommend(executor, [user])

    # A new state through Feast (every item's features changed), then the build's marker goes
    # and comes back (a Redis refilled: materialize writes the marker last).
    changed = table.copy()
    for name in ("item_category", "item_shop", "item_brand"):
        # other items' values: still valid encodings (a value past the vocabulary would make the
        # ranking model's embedding lookup fail), but different for most items
        changed[name] = np.roll(changed[name].to_numpy(), 1)
    changed["event_timestamp"] = pd.Timestamp.now(tz="UTC")
    changed["created"] = changed["event_timestamp"]
    store = open_feature_store(repo, own_db)
    store.write_to_online_store("item_features", changed)
    client = redis.Redis.from_url(own_db)
    client.delete(build_key(build_id(build_dir)))
    with pytest.raises(BuildNotOnline):
        recommend(executor, [user])
    client.set(build_key(build_id(build_dir)), build_id(build_dir))
    recommend(executor, [user])  # no restart: the same executor

    new_values, _ = feast_values(repo, own_db, catalogue.ids)
    assert (new_values != values).any()
    np.testing.assert_array_equal(catalogue.values, new_values)


def test_the_per_request_read_stays_selectable_and_answers_the_same(
    model_repository: Path, build_dir: Path, own_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", own_db)
    repo = build_dir / ARTIFACTS["feature_repo"]
    users = pd.read_parquet(repo / "data" / "user_features.parquet")["user_id"].head(20).tolist()
    monkeypatch.setenv("RECSYS_ITEM_FEATURES", "memory")
    in_memory = load_exported(model_repository)
    monkeypatch.setenv("RECSYS_ITEM_FEATURES", "online_store")
    per_request = load_exported(model_repository)
    assert catalogue_stage(per_request).state[2] is None
    assert catalogue_stage(in_memory).state[2] is not None
    first, second = recommend(in_memory, users), recommend(per_request, users)
    assert first["ordered_ids"].tolist() == second["ordered_ids"].tolist()
    np.testing.assert_allclose(first["ordered_scores"], second["ordered_scores"], atol=1e-6)
