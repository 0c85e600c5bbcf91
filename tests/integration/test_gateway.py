"""The HTTP gateway through its real HTTP stack (uvicorn), against real Triton and Redis."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
import tritonclient.grpc as grpcclient

from services.ensemble.contract import INPUT, MODEL_NAME
from tests.conftest import Gateway, free_port
from training.pipeline import ARTIFACTS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def users(build_dir: Path) -> np.ndarray:
    table = pd.read_parquet(
        build_dir / ARTIFACTS["feature_repo"] / "data" / "user_features.parquet"
    )
    return table["user_id"].to_numpy()


def direct(triton_url: str, user: int) -> tuple[list[int], list[float]]:
    client = grpcclient.InferenceServerClient(triton_url)
    request = grpcclient.InferInput(INPUT, [1], "INT32")
    request.set_data_from_numpy(np.array([user], dtype=np.int32))
    result = client.infer(MODEL_NAME, [request])
    return result.as_numpy("ordered_ids")[0].tolist(), result.as_numpy("ordered_scores")[0].tolist()


def metric(gateway: Gateway, name: str, **labels: str) -> float:
    text = requests.get(f"{gateway.url}/metrics", timeout=5).text
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:{{(.*)}})? (\S+)$", line)
        if match and ",".join(sorted((match.group(1) or "").split(","))) == wanted:
            return float(match.group(2))
    return 0.0


def test_known_users_get_the_ensembles_ranking(gateway: Gateway, triton, users: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    for user in users[[0, 10, 200]].tolist():
        response = requests.get(f"{gateway.url}/recommend", params={"user_id": user}, timeout=5)
        assert response.status_code == 200
        body = response.json()
        ids, scores = direct(triton.grpc_url, user)
        assert body["user_id"] == user
        assert [item["item_id"] for item in body["items"]] == ids
        assert [item["score"] for item in body["items"]] == pytest.approx(scores, rel=1e-6)
        assert body["fallback"] is False
        assert body["model"] == MODEL_NAME
        assert response.headers["X-Request-ID"] == body["request_id"]


def test_k_limits_the_answer(gateway: Gateway, triton, users: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    user = int(users[5])
    body = requests.get(
        f"{gateway.url}/recommend", params={"user_id": user, "k": 3}, timeout=5
    ).json()
    assert [item["item_id"] for item in body["items"]] == direct(triton.grpc_url, user)[0][:3]


@pytest.mark.parametrize(
    ("params", "word"),
    [
        ({}, "user_id"),
        ({"user_id": "abc"}, "user_id"),
        ({"user_id": "1.5"}, "user_id"),
        ({"user_id": str(2**31)}, "user_id"),
        ({"user_id": str(-(2**31) - 1)}, "user_id"),
        ({"user_id": "1", "k": "0"}, "k"),
        ({"user_id": "1", "k": "11"}, "k"),
        ({"user_id": "1", "k": "many"}, "k"),
    ],
)
def test_bad_parameters_get_422_with_a_message(gateway: Gateway, params: dict, word: str) -> None:  # type: ignore[type-arg]
    response = requests.get(f"{gateway.url}/recommend", params=params, timeout=5)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str) and word in detail


def test_unknown_user_gets_popular_items_not_an_error(
    gateway: Gateway, build_dir: Path, users: np.ndarray
) -> None:
    popular = pd.read_parquet(build_dir / ARTIFACTS["popular_items"])["item_id"].head(10).tolist()
    for user in (int(users.max()) + 1, -5):
        response = requests.get(f"{gateway.url}/recommend", params={"user_id": user}, timeout=5)
        assert response.status_code == 200
        body = response.json()
        assert body["fallback"] is True
        assert [item["item_id"] for item in body["items"]] == popular


def test_health_readiness_and_docs(gateway: Gateway) -> None:
    assert requests.get(f"{gateway.url}/healthz", timeout=5).json() == {"status": "ok"}
    assert requests.get(f"{gateway.url}/readyz", timeout=5).status_code == 200
    assert requests.get(f"{gateway.url}/docs", timeout=5).status_code == 200
    schema = requests.get(f"{gateway.url}/openapi.json", timeout=5).json()
    assert "/recommend" in schema["paths"]


def test_metrics_count_what_happened(gateway: Gateway, users: np.ndarray) -> None:
    before_ok = metric(gateway, "gateway_requests_total", route="/recommend", status="200")
    before_bad = metric(gateway, "gateway_requests_total", route="/recommend", status="422")
    before_fallback = metric(gateway, "gateway_fallbacks_total")
    before_calls = metric(gateway, "gateway_triton_call_seconds_count", outcome="ok")
    for user in (int(users[1]), int(users[2]), -1):
        requests.get(f"{gateway.url}/recommend", params={"user_id": user}, timeout=5)
    requests.get(f"{gateway.url}/recommend", params={"user_id": "x"}, timeout=5)
    assert (
        metric(gateway, "gateway_requests_total", route="/recommend", status="200") == before_ok + 3
    )
    assert (
        metric(gateway, "gateway_requests_total", route="/recommend", status="422")
        == before_bad + 1
    )
    assert metric(gateway, "gateway_fallbacks_total") == before_fallback + 1
    assert metric(gateway, "gateway_triton_call_seconds_count", outcome="ok") == before_calls + 3
    assert metric(gateway, "gateway_request_seconds_count", route="/recommend") >= 4


def test_triton_down_gives_503_then_recovers_without_restart(
    model_repository: Path, redis_url: str, users: np.ndarray
) -> None:
    from deploy.triton.launch import TritonServer

    ports = {"http_port": free_port(), "grpc_port": free_port(), "metrics_port": free_port()}
    env = {"REDIS_URL": redis_url}
    server = TritonServer(model_repository, extra_env=env, **ports).start(timeout=180)
    gateway = Gateway(server.grpc_url, redis_url, timeout_s=1.0)
    url, params = f"{gateway.url}/recommend", {"user_id": int(users[0])}
    try:
        assert requests.get(url, params=params, timeout=5).status_code == 200
        server.stop()
        start = time.monotonic()
        response = requests.get(url, params=params, timeout=5)
        assert response.status_code == 503
        assert time.monotonic() - start < 1.5
        assert response.headers["Retry-After"] == "1"
        assert requests.get(f"{gateway.url}/readyz", timeout=5).status_code == 503
        assert metric(gateway, "gateway_requests_total", route="/recommend", status="503") == 1

        server = TritonServer(model_repository, extra_env=env, **ports).start(timeout=180)
        deadline = time.monotonic() + 10
        while requests.get(url, params=params, timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "gateway did not recover"
            time.sleep(0.2)
        assert requests.get(f"{gateway.url}/readyz", timeout=5).status_code == 200
    finally:
        gateway.stop()
        server.stop()


@pytest.fixture()
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers: a hung upstream."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_slow_triton_gives_503_within_the_timeout(silent_server: str, redis_url: str) -> None:
    gateway = Gateway(silent_server, redis_url, timeout_s=0.5)
    try:
        start = time.monotonic()
        response = requests.get(f"{gateway.url}/recommend", params={"user_id": 1}, timeout=10)
        elapsed = time.monotonic() - start
        assert response.status_code == 503
        assert "Retry-After" in response.headers
        assert elapsed < 1.5, elapsed
    finally:
        gateway.stop()
