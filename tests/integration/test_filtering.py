"""The filtering stage with real Redis and Triton: past items, online interactions, rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis
import requests
import tritonclient.grpc as grpcclient

from services.ensemble.contract import (
    INPUT,
    MODEL_NAME,
    interactions_key,
    online_interactions_key,
)
from services.ensemble.graph import build_id
from tests.conftest import TEST_ROWS, TEST_SEED, Gateway, serving
from training.build.artifacts import ARTIFACTS
from training.data import raw_data as data

pytestmark = pytest.mark.slow


def recommend(url: str, users: list[int]) -> dict[str, np.ndarray]:
    client = grpcclient.InferenceServerClient(url)
    request = grpcclient.InferInput(INPUT, [len(users), 1], "INT32")
    request.set_data_from_numpy(np.asarray(users, dtype=np.int32).reshape(-1, 1))
    result = client.infer(MODEL_NAME, [request])
    answer = {name: result.as_numpy(name) for name in ("ordered_ids", "ordered_scores")}
    return {**answer, "fallback": result.as_numpy("fallback").reshape(-1)}


@pytest.fixture(scope="module")
def clicked() -> pd.Series:
    """user -> clicked items, from the data the session build was made of."""
    raw = data.generate("planted", TEST_ROWS, TEST_SEED)
    both = pd.concat([raw.train, raw.valid])
    return both[both["click"] == 1].groupby("user_id")["item_id"].apply(set)


@pytest.fixture(scope="module")
def item_categories(build_dir: Path) -> dict[int, int]:
    table = pd.read_parquet(
        build_dir / ARTIFACTS["feature_repo"] / "data" / "item_features.parquet"
    )
    return dict(zip(table["item_id"].tolist(), table["item_category"].tolist(), strict=True))


def test_clicked_items_never_come_back(triton, clicked: pd.Series) -> None:  # type: ignore[no-untyped-def]
    heavy = clicked[clicked.map(len) >= 3].index[:60].tolist()
    served = recommend(triton.grpc_url, heavy)
    for row, user in enumerate(heavy):
        items = set(served["ordered_ids"][row].tolist())
        assert len(items) == 10
        assert not items & clicked[user], user


def test_posted_interaction_removes_the_item_at_once(gateway: Gateway, clicked: pd.Series) -> None:
    user = int(clicked.index[-1])
    url = f"{gateway.url}/recommend"
    first = requests.get(url, params={"user_id": user}, timeout=5).json()["items"]
    top = first[0]["item_id"]
    response = requests.post(
        f"{gateway.url}/interactions", json={"user_id": user, "item_id": top}, timeout=5
    )
    assert response.status_code == 201
    assert response.json() == {"user_id": user, "item_id": top, "new": True}
    again = requests.get(url, params={"user_id": user}, timeout=5).json()["items"]
    assert top not in [item["item_id"] for item in again]
    assert len(again) == 10
    # The click is information too: the item-item part and list read the user's history, and
    # every part is standardized over the new candidates, so the other items may move
    # (tests/integration/test_consumption_log.py: the clicked item's neighbours come up).
    repeat = requests.post(
        f"{gateway.url}/interactions", json={"user_id": user, "item_id": top}, timeout=5
    )
    assert repeat.status_code == 201 and repeat.json()["new"] is False


def test_items_in_the_online_set_are_excluded_too(
    triton, redis_url: str, clicked: pd.Series
) -> None:  # type: ignore[no-untyped-def]
    """The filter excludes the union of the build's set and the online set (gateway's)."""
    user = int(clicked.index[len(clicked) // 3])
    client = redis.Redis.from_url(redis_url)
    first = recommend(triton.grpc_url, [user])["ordered_ids"][0].tolist()
    client.sadd(online_interactions_key(user), first[0], first[3])
    try:
        again = recommend(triton.grpc_url, [user])["ordered_ids"][0].tolist()
    finally:
        client.delete(online_interactions_key(user))
    assert first[0] not in again and first[3] not in again
    assert len(set(again)) == 10
    assert recommend(triton.grpc_url, [user])["ordered_ids"][0].tolist() == first


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"user_id": 1},
        {"item_id": 1},
        {"user_id": "1", "item_id": 2},
        {"user_id": 1, "item_id": 2.5},
        {"user_id": 1, "item_id": -3},
        {"user_id": 2**31, "item_id": 2},
        {"user_id": 1, "item_id": 2, "extra": True},
        [1, 2],
    ],
)
def test_bad_interaction_bodies_get_422(gateway: Gateway, body: object) -> None:
    response = requests.post(f"{gateway.url}/interactions", json=body, timeout=5)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)


def test_k_items_remain_when_the_filter_removes_most_candidates(
    triton, redis_url: str, clicked: pd.Series, build_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    """Nine rounds of marking every recommended item as seen: 90 of the first 100 gone."""
    user = int(clicked.index[len(clicked) // 2])
    client = redis.Redis.from_url(redis_url)
    excluded = set(clicked[user])
    for _ in range(9):
        items = recommend(triton.grpc_url, [user])["ordered_ids"][0].tolist()
        assert len(set(items)) == 10
        assert not set(items) & excluded
        client.sadd(interactions_key(user, build_id(build_dir)), *items)
        excluded |= set(items)
    assert len(excluded) >= 90


@pytest.fixture(scope="module")
def rules_server(
    tmp_path_factory: pytest.TempPathFactory, build_dir: Path, redis_url: str, triton
) -> Iterator[tuple[str, set[int]]]:  # type: ignore[no-untyped-def]
    """A second repository exported with rules: the default server's favourite items denied,
    at most 2 items per category."""
    from training.build.export import export_repository

    users = pd.read_parquet(
        build_dir / ARTIFACTS["feature_repo"] / "data" / "user_features.parquet"
    )
    sample = users["user_id"].head(40).tolist()
    served = recommend(triton.grpc_url, sample)["ordered_ids"]
    denied = {int(item) for item in served[:, :2].ravel()}
    rules = tmp_path_factory.mktemp("rules") / "rules.json"
    rules.write_text(json.dumps({"deny_items": sorted(denied), "max_per_category": 2}))
    repository = tmp_path_factory.mktemp("rules_repository")
    export_repository(build_dir, repository, rules_file=rules)
    with serving(repository, redis_url) as server:
        yield server.grpc_url, denied


def test_denied_items_never_appear(rules_server, build_dir: Path) -> None:  # type: ignore[no-untyped-def]
    url, denied = rules_server
    users = pd.read_parquet(
        build_dir / ARTIFACTS["feature_repo"] / "data" / "user_features.parquet"
    )
    sample = [*users["user_id"].head(40).tolist(), -1]
    served = recommend(url, sample)
    assert served["ordered_ids"].shape == (41, 10)
    assert not set(served["ordered_ids"].ravel().tolist()) & denied
    assert (served["ordered_ids"] >= 0).all()


def test_category_cap_holds(rules_server, build_dir: Path, item_categories: dict[int, int]) -> None:  # type: ignore[no-untyped-def]
    url, _ = rules_server
    users = pd.read_parquet(
        build_dir / ARTIFACTS["feature_repo"] / "data" / "user_features.parquet"
    )
    served = recommend(url, users["user_id"].sample(40, random_state=1).tolist())
    for row in served["ordered_ids"]:
        counts = pd.Series([item_categories[int(i)] for i in row]).value_counts()
        assert counts.max() <= 2
    assert (np.diff(served["ordered_scores"], axis=1) <= 0).all()
