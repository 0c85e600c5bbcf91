"""The stack on a real three-master Redis Cluster (`REDIS_URL=redis+cluster://h:p,h:p,h:p`).

The session build is materialized into the cluster through Feast's `redis_cluster` mode; the
direct reader, a real tritonserver and the gateway then use the cluster, and answer as they do
on the single Redis the session build was made with.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
import tritonclient.grpc as grpcclient

from services.ensemble.contract import (
    INPUT,
    MODEL_NAME,
    ONLINE_BUILD_KEY,
    build_prefix,
    interactions_key,
    online_interactions_key,
)
from services.ensemble.online_store import FeastFeatureReader, open_feature_store, open_reader
from services.ensemble.redis_store import client_from_url
from services.ensemble.settings import EnsembleSettings
from tests.conftest import Gateway, serving
from tests.redis_cluster import RedisCluster, redis_cluster  # noqa: F401 (the fixture)
from training.build import manifest
from training.build.artifacts import ARTIFACTS
from training.build.materialize import materialize

pytestmark = pytest.mark.slow
UNKNOWN_USER = 9_999_999


@pytest.fixture(scope="module")
def build_id(build_dir: Path) -> str:
    return manifest.build_id(build_dir)


@pytest.fixture(scope="module")
def cluster_url(redis_cluster: RedisCluster, build_dir: Path, build_id: str) -> str:  # noqa: F811
    """The session build's online state, materialized into the cluster."""
    materialize(build_dir, redis_cluster.url, build_id)
    return redis_cluster.url


@pytest.fixture(scope="module")
def users(build_dir: Path) -> list[int]:
    table = pd.read_parquet(
        build_dir / ARTIFACTS["feature_repo"] / "data" / "user_features.parquet",
        columns=["user_id"],
    )
    return sorted(table["user_id"].tolist())


@pytest.fixture(scope="module")
def cluster_triton(model_repository: Path, cluster_url: str) -> Iterator[object]:
    """The session export served by a second tritonserver whose REDIS_URL is the cluster."""
    with serving(model_repository, cluster_url) as server:
        yield server


def recommend(url: str, users: list[int]) -> dict[str, np.ndarray]:
    client = grpcclient.InferenceServerClient(url)
    request = grpcclient.InferInput(INPUT, [len(users), 1], "INT32")
    request.set_data_from_numpy(np.asarray(users, dtype=np.int32).reshape(-1, 1))
    result = client.infer(MODEL_NAME, [request])
    return {name: result.as_numpy(name) for name in ("ordered_ids", "ordered_scores", "fallback")}


def test_materialized_state_is_spread_over_the_masters(
    redis_cluster: RedisCluster,  # noqa: F811
    cluster_url: str,
    build_id: str,
) -> None:
    sizes = [redis_cluster.node(port).dbsize() for port in redis_cluster.ports]
    assert all(size > 0 for size in sizes), sizes
    client = client_from_url(cluster_url)
    sets = client.scan_iter(match=f"{build_prefix(build_id)}interactions:*", count=1000)
    assert sum(1 for _ in sets) > 0
    assert client.get(ONLINE_BUILD_KEY) == build_id.encode()


@pytest.mark.parametrize("view", ["user_features", "item_features"])
def test_direct_reader_equals_feast_on_the_cluster(
    build_dir: Path, cluster_url: str, redis_url: str, view: str
) -> None:
    repo_dir = build_dir / ARTIFACTS["feature_repo"]
    table = pd.read_parquet(repo_dir / "data" / f"{view}.parquet")
    ids = np.asarray([*table.iloc[:, 0].tolist(), UNKNOWN_USER], dtype=np.int32)
    direct, spec = open_reader(repo_dir, view, EnsembleSettings(redis_url=cluster_url))
    values, found = direct.read(spec, ids)
    feast_values, feast_found = FeastFeatureReader(open_feature_store(repo_dir, cluster_url)).read(
        spec, ids
    )
    assert found.tolist() == [True] * (len(ids) - 1) + [False]
    assert np.array_equal(found, feast_found)
    assert np.array_equal(values, feast_values)
    single, _ = open_reader(repo_dir, view, EnsembleSettings(redis_url=redis_url))
    assert np.array_equal(single.read(spec, ids)[0], values)
    assert np.array_equal(values[:-1], table[list(spec.features)].to_numpy(dtype=np.int32))


def test_keys_of_one_user_are_in_one_slot(
    redis_cluster: RedisCluster,  # noqa: F811
    cluster_url: str,
    users: list[int],
    build_id: str,
    build_dir: Path,
) -> None:
    node = redis_cluster.node(redis_cluster.ports[0])
    slots = set()
    for user in users[:200]:
        build_slot = node.cluster("keyslot", interactions_key(user, build_id))
        assert node.cluster("keyslot", online_interactions_key(user)) == build_slot
        slots.add(build_slot)
    assert len(slots) > 100  # and the users themselves spread over the cluster
    clicked = pd.read_parquet(build_dir / ARTIFACTS["interactions"], columns=["user_id"])
    with_sets = sorted(set(clicked["user_id"].tolist()))[:200]
    client = client_from_url(cluster_url)
    with client.pipeline(transaction=False) as pipe:
        for user in with_sets:
            pipe.exists(interactions_key(user, build_id))
        assert pipe.execute() == [1] * len(with_sets)


def test_model_on_the_cluster_answers_as_on_one_redis(
    triton,  # type: ignore[no-untyped-def]
    cluster_triton,  # type: ignore[no-untyped-def]
    users: list[int],
    redis_url: str,
    cluster_url: str,
    build_id: str,
) -> None:
    # Users whose clicks differ between the two stores are left out: other tests add clicks on
    # the session's Redis (posted, or sets of seen items), and the filter rightly answers them
    # differently there.
    single_store, cluster_store = client_from_url(redis_url), client_from_url(cluster_url)

    def clicks(store: Any, user: int) -> tuple[set[bytes], set[bytes]]:
        return (
            store.smembers(online_interactions_key(user)),
            store.smembers(interactions_key(user, build_id)),
        )

    sampled = users[:: max(1, len(users) // 80)]
    alike = [u for u in sampled if clicks(single_store, u) == clicks(cluster_store, u)][:60]
    assert len(alike) >= 50, f"only {len(alike)} of {len(sampled)} users alike in both stores"
    ids = [*alike, UNKNOWN_USER]
    single = recommend(triton.grpc_url, ids)
    clustered = recommend(cluster_triton.grpc_url, ids)
    assert np.allclose(clustered["ordered_scores"], single["ordered_scores"], atol=1e-6)
    for row, (got, want) in enumerate(
        zip(clustered["ordered_ids"], single["ordered_ids"], strict=True)
    ):
        assert only_ties_swapped(got, want, single["ordered_scores"][row]), (ids[row], got, want)
    assert clustered["fallback"].reshape(-1).tolist() == [False] * (len(ids) - 1) + [True]


def only_ties_swapped(got: np.ndarray, want: np.ndarray, scores: np.ndarray) -> bool:
    """The same items in the same places, but where two scores tie within float error (the
    model's batches may differ between two servers, and with them the last bit of a score)."""
    if set(got.tolist()) != set(want.tolist()):
        return False
    for place in np.flatnonzero(got != want):
        neighbours = scores[max(0, place - 1) : place + 2]
        if np.isclose(scores[place], neighbours, atol=1e-5).sum() < 2:  # no tie to swap with
            return False
    return True


def test_interactions_posted_through_the_gateway_are_excluded(
    cluster_triton,  # type: ignore[no-untyped-def]
    cluster_url: str,
    users: list[int],
) -> None:
    gateway = Gateway(cluster_triton.grpc_url, cluster_url, timeout_s=5.0)
    try:
        assert wait_ready(gateway.url), "the gateway on the cluster never became ready"
        user = users[len(users) // 2]
        url = f"{gateway.url}/recommend"
        first = [
            i["item_id"]
            for i in requests.get(url, params={"user_id": user}, timeout=5).json()["items"]
        ]
        posted = requests.post(
            f"{gateway.url}/interactions", json={"user_id": user, "item_id": first[0]}, timeout=5
        )
        assert posted.status_code == 201
        again = [
            i["item_id"]
            for i in requests.get(url, params={"user_id": user}, timeout=5).json()["items"]
        ]
        assert first[0] not in again
        assert len(again) == 10
        client = client_from_url(cluster_url)
        assert str(first[0]).encode() in client.smembers(online_interactions_key(user))
    finally:
        gateway.stop()


def wait_ready(url: str, timeout_s: float = 30.0) -> bool:
    """/readyz answered 200 within timeout_s (a probe's first checks may time out on a busy
    machine: the cluster client's first command also fetches the slot map)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if requests.get(f"{url}/readyz", timeout=5).status_code == 200:
            return True
        time.sleep(0.5)
    return False


def timed_run(url: str, users: list[int], seconds: float, threads: int) -> dict[str, list]:
    """`threads` clients, each one user per request in a loop for `seconds`: the latencies
    (s) and the failures' exception names."""
    out: dict[str, list] = {"latencies": [], "failures": []}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop(seed: int) -> None:
        client = grpcclient.InferenceServerClient(url)
        rng = np.random.default_rng(seed)
        while time.monotonic() < deadline:
            request = grpcclient.InferInput(INPUT, [1, 1], "INT32")
            request.set_data_from_numpy(np.asarray([[rng.choice(users)]], dtype=np.int32))
            start = time.perf_counter()
            try:
                client.infer(MODEL_NAME, [request], client_timeout=5.0)
            except Exception as exc:  # counted: a failure is what this run measures
                with lock:
                    out["failures"].append(type(exc).__name__)
                continue
            with lock:
                out["latencies"].append(time.perf_counter() - start)

    workers = [threading.Thread(target=loop, args=(seed,)) for seed in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return out


def summary(runs: list[dict[str, list]], seconds: float) -> dict[str, float]:
    ms = np.asarray([x for run in runs for x in run["latencies"]]) * 1000
    failures = sum(len(run["failures"]) for run in runs)
    return {
        "requests": len(ms) + failures,
        "failures": failures,
        "per_s": round(len(ms) / seconds, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


def test_short_run_on_the_cluster_fails_nothing(
    triton,  # type: ignore[no-untyped-def]
    cluster_triton,  # type: ignore[no-untyped-def]
    users: list[int],
) -> None:
    """The same load on both backends in alternated 4 s slices (3 each, in both orders) so
    that the machine's other load falls on both alike; the figures are printed."""
    urls = {"single": triton.grpc_url, "cluster": cluster_triton.grpc_url}
    runs: dict[str, list[dict[str, list]]] = {"single": [], "cluster": []}
    for order in (["single", "cluster"], ["cluster", "single"], ["single", "cluster"]):
        for name in order:
            runs[name].append(timed_run(urls[name], users, seconds=4, threads=4))
    figures = {name: summary(parts, seconds=12) for name, parts in runs.items()}
    print(f"\nredis cluster vs single, 4 threads, 3 x 4 s each, alternated: {figures}")
    assert figures["single"]["failures"] == 0
    assert figures["cluster"]["failures"] == 0
    assert figures["cluster"]["requests"] > 50
