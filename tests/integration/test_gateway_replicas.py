"""Two real tritonservers behind one real gateway (#16 item 3): requests spread over both, one
killed with SIGKILL under load without failed requests (the retry on the other replica covers
those in flight), the dead one skipped, and used again once it is back."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from tests.conftest import Gateway, triton_server
from tests.integration.test_gateway import metric
from training.build.artifacts import ARTIFACTS

pytestmark = pytest.mark.slow

WORKERS = 4
REQUESTS_PER_WORKER = 150
KILL_AFTER = 200
"""Requests answered (of WORKERS * REQUESTS_PER_WORKER) before replica 0 is killed."""


@dataclass(frozen=True)
class Answer:
    started: float
    ended: float
    status: int


@pytest.fixture(scope="module")
def user_ids(build_dir: Path) -> list[int]:
    table = pd.read_parquet(
        build_dir / ARTIFACTS["feature_repo"] / "data" / "user_features.parquet"
    )
    return [int(user) for user in table["user_id"].to_numpy()[:50]]


@pytest.fixture(scope="module")
def replicas(model_repository: Path, redis_url: str) -> Iterator[list[object]]:
    """Two tritonservers on the session repository (one executor instance each)."""
    servers = [triton_server(model_repository, redis_url, watchdog=False) for _ in range(2)]
    try:
        with ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(lambda server: server.start(timeout=240), servers))
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def gateway(replicas: list[object], redis_url: str) -> Iterator[Gateway]:
    urls = ",".join(server.grpc_url for server in replicas)  # type: ignore[attr-defined]
    with Gateway(urls, redis_url, timeout_s=5.0) as server:  # lenient: a busy shared machine
        yield server


def replica_calls(gateway: Gateway, replica: int) -> float:
    return metric(gateway, "gateway_triton_replica_calls_total", replica=str(replica), outcome="ok")


def wait_for(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def warm(gateway: Gateway, user_ids: list[int]) -> None:
    """A cold executor's first requests are slow: wait for 20 answers in a row on both."""
    streak, deadline = 0, time.monotonic() + 120
    while streak < 20:
        assert time.monotonic() < deadline, "the replicas never answered"
        response = requests.get(
            f"{gateway.url}/recommend", params={"user_id": user_ids[streak]}, timeout=10
        )
        streak = streak + 1 if response.status_code == 200 else 0


def test_requests_are_spread_over_both_replicas(gateway: Gateway, user_ids: list[int]) -> None:
    warm(gateway, user_ids)
    ready = requests.get(f"{gateway.url}/readyz", timeout=5)
    assert ready.status_code == 200, ready.text
    assert ready.json()["replicas"] == [
        {"replica": 0, "state": "ready"},
        {"replica": 1, "state": "ready"},
    ]
    before = [replica_calls(gateway, index) for index in (0, 1)]
    for user in user_ids[:10]:
        assert requests.get(f"{gateway.url}/recommend", params={"user_id": user}, timeout=10).ok
    after = [replica_calls(gateway, index) for index in (0, 1)]
    assert [b - a for a, b in zip(before, after, strict=True)] == [5, 5]


def test_one_replica_killed_under_load_fails_no_request(
    gateway: Gateway, replicas: list[object], user_ids: list[int]
) -> None:
    warm(gateway, user_ids)
    victim = replicas[0]
    answers: list[Answer] = []
    lock, killed_at = threading.Lock(), [0.0]

    def worker(offset: int) -> None:
        session = requests.Session()
        for step in range(REQUESTS_PER_WORKER):
            user = user_ids[(offset + step) % len(user_ids)]
            started = time.monotonic()
            try:
                status = session.get(
                    f"{gateway.url}/recommend", params={"user_id": user}, timeout=10
                ).status_code
            except requests.RequestException:
                status = 0
            with lock:
                answers.append(Answer(started, time.monotonic(), status))
                kill_now = len(answers) == KILL_AFTER
            if kill_now:
                killed_at[0] = time.monotonic()
                os.killpg(victim.pid, signal.SIGKILL)  # type: ignore[attr-defined]

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(worker, range(WORKERS)))

    kill = killed_at[0]
    failed = [a for a in answers if a.status != 200]
    in_flight = [a for a in answers if a.started <= kill <= a.ended]
    latencies = np.array([a.ended - a.started for a in answers])
    retries = metric(gateway, "gateway_triton_retries_total")
    p50, p99 = (float(np.percentile(latencies, q)) * 1000 for q in (50, 99))
    print(
        f"\nreplica failover: {len(answers)} requests ({WORKERS} concurrent), "
        f"{len(failed)} failed ({sorted({a.status for a in failed})}), {len(in_flight)} in "
        f"flight at the SIGKILL, {retries:g} retried on the other replica; latency p50 "
        f"{p50:.1f} ms, p99 {p99:.1f} ms, max {latencies.max() * 1000:.1f} ms"
    )
    assert kill > 0 and not victim.running  # type: ignore[attr-defined]
    assert len(answers) == WORKERS * REQUESTS_PER_WORKER
    assert failed == [], f"{len(failed)} failed, {len(in_flight)} in flight at the kill"
    assert metric(gateway, "gateway_triton_replica_up", replica="0") == 0

    skipped_before = replica_calls(gateway, 0)
    for user in user_ids[:10]:
        assert requests.get(f"{gateway.url}/recommend", params={"user_id": user}, timeout=10).ok
    assert replica_calls(gateway, 0) == skipped_before, "the dead replica was not skipped"
    ready = requests.get(f"{gateway.url}/readyz", timeout=5)
    assert ready.status_code == 200, ready.text
    assert ready.json()["replicas"][0] == {"replica": 0, "state": "unreachable"}
    assert "127.0.0.1" not in ready.text


def test_the_restarted_replica_is_used_again(
    gateway: Gateway, replicas: list[object], user_ids: list[int]
) -> None:
    victim = replicas[0]
    if victim.running:  # type: ignore[attr-defined]
        pytest.skip("needs the replica killed by the previous test")
    victim.stop()  # type: ignore[attr-defined]
    victim.start(timeout=240)  # type: ignore[attr-defined]
    wait_for(
        lambda: metric(gateway, "gateway_triton_replica_up", replica="0") == 1,
        seconds=10,
        what="the gateway never probed the restarted replica back",
    )
    warm(gateway, user_ids)
    before = replica_calls(gateway, 0)
    for user in user_ids[:10]:
        assert requests.get(f"{gateway.url}/recommend", params={"user_id": user}, timeout=10).ok
    assert replica_calls(gateway, 0) - before == 5
    assert requests.get(f"{gateway.url}/readyz", timeout=5).json()["replicas"][0]["state"] == (
        "ready"
    )
