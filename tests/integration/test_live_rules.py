"""Business rules changed in Redis under a running real Triton (no export): the next request
obeys them; a malformed value is refused by the CLI with one line, and one written around the
CLI leaves the model on its last good rules with one log line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis
import tritonclient.grpc as grpcclient

from services.ensemble.contract import INPUT, MODEL_NAME, RULES_KEY
from tests.conftest import REPO_ROOT
from training.build.artifacts import ARTIFACTS

pytestmark = pytest.mark.slow
REFUSED = "rules in Redis refused"


def recommend(url: str, users: list[int]) -> np.ndarray:
    client = grpcclient.InferenceServerClient(url)
    request = grpcclient.InferInput(INPUT, [len(users), 1], "INT32")
    request.set_data_from_numpy(np.asarray(users, dtype=np.int32).reshape(-1, 1))
    return client.infer(MODEL_NAME, [request]).as_numpy("ordered_ids")  # type: ignore[no-any-return]


def rules_cli(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "training", "rules", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture()
def no_rules(redis_url: str) -> Iterator[redis.Redis]:
    """Redis without rules before and after the test (the session's other tests share it)."""
    client = redis.Redis.from_url(redis_url)
    client.delete(RULES_KEY)
    yield client
    client.delete(RULES_KEY)


@pytest.fixture(scope="module")
def users(build_dir: Path) -> list[int]:
    table = pd.read_parquet(
        build_dir / ARTIFACTS["feature_repo"] / "data" / "user_features.parquet"
    )
    return [int(u) for u in table["user_id"].head(30)]


@pytest.fixture(scope="module")
def categories(build_dir: Path) -> dict[int, int]:
    table = pd.read_parquet(
        build_dir / ARTIFACTS["feature_repo"] / "data" / "item_features.parquet"
    )
    return dict(zip(table["item_id"].tolist(), table["item_category"].tolist(), strict=True))


def log_count(triton, words: str) -> int:  # type: ignore[no-untyped-def]
    return Path(triton.log_file).read_text(errors="replace").count(words)


def test_rules_set_in_redis_apply_from_the_next_request(  # type: ignore[no-untyped-def]
    triton,
    redis_url: str,
    no_rules: redis.Redis,
    users: list[int],
    categories: dict[int, int],
    tmp_path: Path,
) -> None:
    before = recommend(triton.grpc_url, users)
    denied = sorted({int(i) for i in before[:, :2].ravel()})
    good = tmp_path / "rules.json"
    good.write_text(json.dumps({"deny_items": denied, "max_per_category": 2}))
    result = rules_cli(redis_url, "set", str(good))
    assert result.returncode == 0 and "rules version 1 set" in result.stdout, result.stderr

    after = recommend(triton.grpc_url, users)  # the very next request
    assert not set(after.ravel().tolist()) & set(denied)
    assert (after >= 0).all()
    for row in after:
        assert max(Counter(categories[int(i)] for i in row).values()) <= 2

    # a malformed file: one line from the CLI, Redis untouched
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"deny_items": "all of them"}))
    result = rules_cli(redis_url, "set", str(bad))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: rules file {bad}: deny_items must be a list of item ids (int32, >= 0)"
    ]
    assert no_rules.hget(RULES_KEY, "version") == b"1"

    # a malformed value written around the CLI: the last good rules stay, one log line
    refused_before = log_count(triton, REFUSED)
    no_rules.hset(RULES_KEY, "rules", "{not json")
    no_rules.hincrby(RULES_KEY, "version", 1)
    for _ in range(3):
        assert recommend(triton.grpc_url, users).tolist() == after.tolist()
    assert 1 <= log_count(triton, REFUSED) - refused_before <= instances(triton)

    shown = rules_cli(redis_url, "show")
    assert shown.returncode == 2 and "not valid" in shown.stderr

    # removed: the exported rules (none) apply again
    assert rules_cli(redis_url, "clear").returncode == 0
    assert recommend(triton.grpc_url, users).tolist() == before.tolist()
    assert "no rules in Redis" in rules_cli(redis_url, "show").stdout


def instances(triton) -> int:  # type: ignore[no-untyped-def]
    """Model processes: each refuses a bad value once, in its own log line."""
    config = (Path(triton.model_repository) / MODEL_NAME / "config.pbtxt").read_text()
    return int(config.split("count:")[1].split()[0])
