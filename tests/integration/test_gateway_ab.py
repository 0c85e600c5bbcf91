"""The A/B split through the real gateway against a real tritonserver serving versions 1 and 2
of executor_model at once (two copies of the session export; the repository is made here).

How the shares are checked: the assignment function's shares on 10,000 distinct users are
within 2 points of the configured ones (tests/unit/gateway/core/test_ab.py, in-process, fast).
Here, every one of USERS distinct users' answers must carry exactly the version that function
assigns the user (so the served shares are the function's), and the observed share must lie
within 4 standard errors of the configured one: sqrt(p (1 - p) / n) is 1.4 points for p = 0.3
and n = 1,000, so 5.8 points; the check is deterministic (a hash, not a draw) but the bound says
what a sample of this size can show.
"""

from __future__ import annotations

import math
import shutil
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from services.ensemble.contract import MODEL_NAME
from services.gateway.core.ab import ABSplit, parse_split
from tests.conftest import Gateway, serve_versions, serving
from tests.integration.test_gateway import metric
from training.build.artifacts import ARTIFACTS

SPLIT = "1:70,2:30"
USERS = 1_000
"""Distinct users sent through the gateway: 900 known, 100 unknown (fallback answers)."""


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory, model_repository: Path) -> Path:
    """The session export as versions 1 and 2 of executor_model, both served."""
    repository = tmp_path_factory.mktemp("ab_repository")
    model = repository / MODEL_NAME
    shutil.copytree(model_repository / MODEL_NAME, model)
    shutil.copytree(model / "1", model / "2")
    serve_versions(model, [1, 2])
    return repository


@pytest.fixture(scope="module")
def ab_triton(two_versions: Path, redis_url: str) -> Iterator[object]:
    with serving(two_versions, redis_url, timeout=240) as server:
        yield server


def gateway_with(triton, redis_url: str, **env: str) -> Iterator[Gateway]:  # type: ignore[no-untyped-def]
    with Gateway(triton.grpc_url, redis_url, timeout_s=5.0, extra_env=env) as server:
        yield server


@pytest.fixture(scope="module")
def ab_gateway(ab_triton, redis_url: str) -> Iterator[Gateway]:  # type: ignore[no-untyped-def]
    yield from gateway_with(ab_triton, redis_url, GATEWAY_AB=SPLIT)


@pytest.fixture(scope="module")
def users(build_dir: Path) -> list[int]:
    table = pd.read_parquet(
        build_dir / ARTIFACTS["feature_repo"] / "data" / "user_features.parquet"
    )
    known = table["user_id"].drop_duplicates().to_numpy()
    assert len(known) >= USERS - 100
    unknown = np.arange(known.max() + 1, known.max() + 101)
    return [int(u) for u in [*known[: USERS - 100], *unknown]]


def answers(gateway: Gateway, users: list[int]) -> list[dict]:  # type: ignore[type-arg]
    def one(user: int) -> dict:  # type: ignore[type-arg]
        response = requests.get(f"{gateway.url}/recommend", params={"user_id": user}, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, users))


@pytest.mark.slow
def test_each_user_gets_the_assigned_version_in_the_configured_shares(
    ab_gateway: Gateway, users: list[int]
) -> None:
    split = ABSplit(parse_split(SPLIT))
    bodies = answers(ab_gateway, users)
    assert [body["user_id"] for body in bodies] == users
    assert [body["model_version"] for body in bodies] == [split.version_for(u) for u in users]
    assert all(body["fallback"] for body in bodies[-100:])  # unknown users: versioned too
    served = Counter(body["model_version"] for body in bodies)
    for version, share in parse_split(SPLIT):
        p = share / 100
        tolerance = 4 * math.sqrt(p * (1 - p) / len(users)) * 100
        assert abs(100 * served[version] / len(users) - share) <= tolerance, served
    # the metrics tell the versions apart
    for version, count in served.items():
        seen = metric(ab_gateway, "gateway_requests_total", model_version=str(version))
        assert seen >= count
        assert (
            metric(ab_gateway, "gateway_triton_call_seconds_count", model_version=str(version))
            >= count
        )


@pytest.mark.slow
def test_the_same_user_always_gets_the_same_version(ab_gateway: Gateway, users: list[int]) -> None:
    sample = users[:: len(users) // 50]
    first = [body["model_version"] for body in answers(ab_gateway, sample)]
    for _ in range(3):
        assert [body["model_version"] for body in answers(ab_gateway, sample)] == first
    assert set(first) == {1, 2}


@pytest.mark.slow
def test_without_a_split_tritons_latest_answers(
    ab_triton, redis_url: str, users: list[int]
) -> None:  # type: ignore[no-untyped-def]
    for gateway in gateway_with(ab_triton, redis_url):
        bodies = answers(gateway, users[:40] + users[-5:])
        assert {body["model_version"] for body in bodies} == {2}


@pytest.mark.slow
def test_a_version_triton_does_not_serve_is_answered_by_the_latest(
    ab_triton, redis_url: str, users: list[int]
) -> None:  # type: ignore[no-untyped-def]
    split = ABSplit(parse_split("1:50,3:50"))
    sample = users[:60]
    for gateway in gateway_with(ab_triton, redis_url, GATEWAY_AB="1:50,3:50"):
        bodies = answers(gateway, sample)
        expected = [1 if split.version_for(u) == 1 else 2 for u in sample]
        assert [body["model_version"] for body in bodies] == expected
        assert 3 not in expected and 2 in expected
