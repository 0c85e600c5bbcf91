"""The direct Redis reader and the Feast SDK reader agree on the same online store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from services.ensemble.online_store import open_reader
from services.ensemble.settings import EnsembleSettings
from training.pipeline import ARTIFACTS


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
