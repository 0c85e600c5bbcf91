"""The HTTP gateway through its real HTTP stack (uvicorn), against real Triton and Redis."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
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
    ONLINE_BUILD_KEY,
    online_interactions_key,
)
from tests.conftest import GATEWAY_PYTHON, REPO_ROOT, Gateway, free_port, ports_of, serving
from training.build import manifest
from training.build.artifacts import ARTIFACTS
from training.build.materialize import materialize

API_KEY = "integration-key-0123456789"


@pytest.fixture(scope="module")
def users(build_dir: Path) -> np.ndarray:
    table = pd.read_parquet(
        build_dir / ARTIFACTS["feature_repo"] / "data" / "user_features.parquet"
    )
    return table["user_id"].to_numpy()


def direct(triton_url: str, user: int) -> tuple[list[int], list[float]]:
    client = grpcclient.InferenceServerClient(triton_url)
    request = grpcclient.InferInput(INPUT, [1, 1], "INT32")  # [users, 1], as the gateway sends
    request.set_data_from_numpy(np.array([[user]], dtype=np.int32))
    result = client.infer(MODEL_NAME, [request])
    return result.as_numpy("ordered_ids")[0].tolist(), result.as_numpy("ordered_scores")[0].tolist()


def metric(gateway: Gateway, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels` (e.g. over model versions)."""
    text = requests.get(f"{gateway.url}/metrics", timeout=5).text
    wanted = {f'{key}="{value}"' for key, value in labels.items()}
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:{{(.*)}})? (\S+)$", line)
        if match and wanted <= set((match.group(1) or "").split(",")):
            total += float(match.group(2))
    return total


def replica_ok(gateway: Gateway, replica: int = 0) -> float:
    return metric(gateway, "gateway_triton_replica_calls_total", replica=str(replica), outcome="ok")


@pytest.mark.slow
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


@pytest.mark.slow
def test_k_limits_the_answer(gateway: Gateway, triton, users: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    user = int(users[5])
    body = requests.get(
        f"{gateway.url}/recommend", params={"user_id": user, "k": 3}, timeout=5
    ).json()
    assert [item["item_id"] for item in body["items"]] == direct(triton.grpc_url, user)[0][:3]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("params", "word"),
    [({}, "user_id"), ({"user_id": str(2**31)}, "user_id"), ({"user_id": "1", "k": "11"}, "k")],
)
def test_bad_parameters_get_422_with_a_message(gateway: Gateway, params: dict, word: str) -> None:  # type: ignore[type-arg]
    """Through uvicorn; every kind of bad parameter: tests/unit/gateway/api/routes."""
    response = requests.get(f"{gateway.url}/recommend", params=params, timeout=5)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str) and word in detail


@pytest.mark.slow
def test_k_range_is_the_served_models_answer_size(gateway: Gateway, triton) -> None:  # type: ignore[no-untyped-def]
    """GATEWAY_MAX_K unset: k's maximum is read from the model's config; set to another size:
    the gateway refuses to start, with one line naming both."""
    schema = requests.get(f"{gateway.url}/openapi.json", timeout=5).json()
    k = next(p for p in schema["paths"]["/recommend"]["get"]["parameters"] if p["name"] == "k")
    assert k["schema"]["maximum"] == 10
    env = {
        **os.environ,
        "GATEWAY_TRITON_URL": triton.grpc_url,
        "GATEWAY_PORT": str(free_port()),
        "GATEWAY_MAX_K": "3",
    }
    started = subprocess.run(
        [str(GATEWAY_PYTHON), "-m", "services.gateway"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 2
    lines = started.stderr.strip().splitlines()
    assert lines[-1].startswith("error: GATEWAY_MAX_K=3") and "10" in lines[-1]
    assert "Traceback" not in started.stderr


@pytest.mark.slow
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


@pytest.mark.slow
def test_health_readiness_and_docs(gateway: Gateway) -> None:
    assert requests.get(f"{gateway.url}/healthz", timeout=5).json() == {"status": "ok"}
    assert requests.get(f"{gateway.url}/readyz", timeout=5).status_code == 200
    assert requests.get(f"{gateway.url}/docs", timeout=5).status_code == 200
    schema = requests.get(f"{gateway.url}/openapi.json", timeout=5).json()
    assert "/recommend" in schema["paths"]


@pytest.mark.slow
def test_metrics_count_what_happened(gateway: Gateway, users: np.ndarray) -> None:
    before_ok = metric(gateway, "gateway_requests_total", route="/recommend", status="200")
    before_bad = metric(gateway, "gateway_requests_total", route="/recommend", status="422")
    before_fallback = metric(gateway, "gateway_fallbacks_total")
    before_calls = metric(gateway, "gateway_triton_call_seconds_count", outcome="ok")
    before_replica = replica_ok(gateway)
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
    # one address: one replica, index 0
    assert replica_ok(gateway) == before_replica + 3
    assert metric(gateway, "gateway_request_seconds_count", route="/recommend") >= 4


@pytest.mark.slow
def test_triton_down_gives_503_then_recovers_without_restart(
    model_repository: Path, redis_url: str, users: np.ndarray
) -> None:
    with (
        serving(model_repository, redis_url) as server,
        Gateway(server.grpc_url, redis_url, timeout_s=1.0) as gateway,
    ):
        url, params = f"{gateway.url}/recommend", {"user_id": int(users[0])}
        assert requests.get(url, params=params, timeout=5).status_code == 200
        server.stop()
        start = time.monotonic()
        response = requests.get(url, params=params, timeout=5)
        assert response.status_code == 503
        assert time.monotonic() - start < 1.5
        assert response.headers["Retry-After"] == "1"
        assert requests.get(f"{gateway.url}/readyz", timeout=5).status_code == 503
        assert metric(gateway, "gateway_requests_total", route="/recommend", status="503") == 1

        with serving(model_repository, redis_url, **ports_of(server)):  # the same addresses
            deadline = time.monotonic() + 10
            while requests.get(url, params=params, timeout=5).status_code != 200:
                assert time.monotonic() < deadline, "gateway did not recover"
                time.sleep(0.2)
            assert requests.get(f"{gateway.url}/readyz", timeout=5).status_code == 200


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


# -- limits, auth and Redis options: a real uvicorn and real redis-servers, no build needed ------


class RedisProcess:
    """A redis-server of our own on a free port, to stop and restart, or with a password or TLS."""

    def __init__(self, workdir: Path, *args: str, tls: tuple[Path, Path, Path] | None = None):
        self.port = free_port()
        self.workdir = workdir
        listen = ["--port", str(self.port)]
        if tls is not None:
            cert, key, ca = tls
            listen = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(cert)]
            listen += ["--tls-key-file", str(key), "--tls-ca-cert-file", str(ca)]
            listen += ["--tls-auth-clients", "no"]
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.command = [binary, *listen, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.command += args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisProcess:
        self.process = subprocess.Popen(self.command, cwd=self.workdir, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                assert self.process.poll() is None, "redis-server exited"
                assert time.monotonic() < deadline, "redis-server did not listen"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def limits_gateway(redis_server: str) -> Iterator[Gateway]:
    """A gateway with an API key and short read timeouts; Triton is a closed port."""
    redis.Redis.from_url(f"{redis_server}/5").flushdb()
    env = {
        "GATEWAY_API_KEY": API_KEY,
        "GATEWAY_HEADER_TIMEOUT_S": "1",
        "GATEWAY_BODY_TIMEOUT_S": "1",
    }
    with Gateway(f"127.0.0.1:{free_port()}", f"{redis_server}/5", extra_env=env) as server:
        yield server


def post_interaction(gateway: Gateway, body: object, **kwargs: object) -> requests.Response:
    return requests.post(f"{gateway.url}/interactions", json=body, timeout=5, **kwargs)  # type: ignore[arg-type]


def test_interactions_need_the_key_and_land_in_the_online_set(
    limits_gateway: Gateway, redis_server: str
) -> None:
    body = {"user_id": 31, "item_id": 310}
    missing = post_interaction(limits_gateway, body)
    assert missing.status_code == 401 and "API key required" in missing.json()["detail"]
    wrong = post_interaction(limits_gateway, body, headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401
    assert not redis.Redis.from_url(f"{redis_server}/5").exists(online_interactions_key(31))

    bearer = {"Authorization": f"Bearer {API_KEY}"}
    assert post_interaction(limits_gateway, body, headers=bearer).status_code == 201
    header = {"X-API-Key": API_KEY}
    again = post_interaction(limits_gateway, {"user_id": 31, "item_id": 311}, headers=header)
    assert again.status_code == 201
    members = redis.Redis.from_url(f"{redis_server}/5").smembers(online_interactions_key(31))
    assert members == {b"310", b"311"}


def test_explain_and_the_known_users_need_the_key_the_plain_answer_does_not(
    limits_gateway: Gateway,
) -> None:
    explain = {"user_id": 1, "explain": "true"}
    for path, params in (("/recommend", explain), ("/users/sample", {})):
        response = requests.get(f"{limits_gateway.url}{path}", params=params, timeout=5)
        assert response.status_code == 401, path
        assert "API key required" in response.json()["detail"]
    keyed = requests.get(
        f"{limits_gateway.url}/users/sample", headers={"X-API-Key": API_KEY}, timeout=5
    )
    assert keyed.status_code == 200 and isinstance(keyed.json(), list)
    plain = requests.get(f"{limits_gateway.url}/recommend", params={"user_id": 1}, timeout=5)
    assert plain.status_code == 503  # past the key check: Triton is a closed port here


def test_body_over_the_limit_gets_413(limits_gateway: Gateway) -> None:
    url, headers = f"{limits_gateway.url}/interactions", {"X-API-Key": API_KEY}
    headers["Content-Type"] = "application/json"
    fits = b'{"user_id": 32, "item_id": 320' + b" " * (16 * 1024 - 31) + b"}"
    assert len(fits) == 16 * 1024
    assert requests.post(url, data=fits, headers=headers, timeout=5).status_code == 201
    too_big = fits[:-1] + b" }"
    response = requests.post(url, data=too_big, headers=headers, timeout=5)
    assert response.status_code == 413 and "16384 bytes" in response.json()["detail"]
    chunked = requests.post(url, data=iter([fits[:-1], b" }"]), headers=headers, timeout=5)
    assert chunked.status_code == 413
    huge = requests.post(url, data=b"x" * 64_000_000, headers=headers, timeout=10)
    assert huge.status_code == 413


def read_until_closed(connection: socket.socket, limit_s: float) -> tuple[bytes, float]:
    """What the server sent until it closed the connection, and when it closed it."""
    start, received = time.monotonic(), b""
    connection.settimeout(limit_s)
    while chunk := connection.recv(4096):
        received += chunk
    return received, time.monotonic() - start


def test_idle_and_dripping_clients_are_cut_off(limits_gateway: Gateway) -> None:
    idle = socket.create_connection(("127.0.0.1", limits_gateway.port))
    _, elapsed = read_until_closed(idle, limit_s=5)
    assert elapsed < 2.5, elapsed

    drip = socket.create_connection(("127.0.0.1", limits_gateway.port))
    drip.sendall(b"GET /healthz HTTP/1.1\r\n")
    start = time.monotonic()
    with pytest.raises(OSError):  # the server closes while we drip
        for _ in range(50):
            drip.sendall(b"X-Slow: y\r\n")
            time.sleep(0.1)
    answer, _ = read_until_closed(drip, limit_s=5)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - start < 2.5


def test_slow_body_gets_408(limits_gateway: Gateway) -> None:
    client = socket.create_connection(("127.0.0.1", limits_gateway.port))
    client.sendall(
        b"POST /interactions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"X-API-Key: {API_KEY}\r\nContent-Length: 40\r\n\r\n".encode()
        + b'{"user_id": 1,'
    )
    answer, elapsed = read_until_closed(client, limit_s=5)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert 0.9 < elapsed < 2.5, elapsed


def test_oversized_head_gets_431(limits_gateway: Gateway) -> None:
    response = requests.get(
        f"{limits_gateway.url}/healthz", headers={"X-Big": "y" * 40_000}, timeout=5
    )
    assert response.status_code == 431
    assert requests.get(f"{limits_gateway.url}/healthz", timeout=5).status_code == 200


def test_error_bodies_name_no_addresses(limits_gateway: Gateway) -> None:
    response = requests.get(f"{limits_gateway.url}/recommend", params={"user_id": 1}, timeout=5)
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert "127.0.0.1" not in response.text and "Error" not in response.text
    assert response.json()["request_id"] == response.headers["X-Request-ID"]
    ready = requests.get(f"{limits_gateway.url}/readyz", timeout=5)
    assert ready.status_code == 503 and "triton: unreachable" in ready.json()["problems"]
    assert ready.json()["replicas"] == [{"replica": 0, "state": "unreachable"}]
    assert "127.0.0.1" not in ready.text


def test_password_protected_redis(tmp_path: Path) -> None:
    password = "redis-pass-42"
    server = RedisProcess(tmp_path, "--requirepass", password).start()
    base = f"127.0.0.1:{server.port}/0"
    gateways: list[Gateway] = []
    try:
        in_url = Gateway(f"127.0.0.1:{free_port()}", f"redis://:{password}@{base}")
        own_setting = Gateway(
            f"127.0.0.1:{free_port()}",
            f"redis://{base}",
            extra_env={"GATEWAY_REDIS_PASSWORD": password},
        )
        wrong = Gateway(f"127.0.0.1:{free_port()}", f"redis://:not-it@{base}")
        gateways += [in_url, own_setting, wrong]
        assert post_interaction(in_url, {"user_id": 1, "item_id": 10}).status_code == 201
        assert post_interaction(own_setting, {"user_id": 1, "item_id": 11}).status_code == 201
        refused = post_interaction(wrong, {"user_id": 1, "item_id": 12})
        assert refused.status_code == 503 and "Retry-After" in refused.headers
        assert "not-it" not in refused.text and str(server.port) not in refused.text
        client = redis.Redis.from_url(f"redis://:{password}@{base}")
        assert client.smembers(online_interactions_key(1)) == {b"10", b"11"}
    finally:
        for gateway in gateways:
            gateway.stop()
        server.stop()


def make_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 signed by it (openssl)."""
    ca_key, ca, key, csr, cert = (
        directory / n for n in ("ca.key", "ca.pem", "s.key", "s.csr", "s.pem")
    )
    extensions = directory / "ext.cnf"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    commands = [  # the paths are pytest's tmp_path: no spaces
        f"req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=testCA -keyout {ca_key} -out {ca}",
        f"req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout {key} -out {csr}",
        f"x509 -req -in {csr} -CA {ca} -CAkey {ca_key} -CAcreateserial -days 1"
        f" -extfile {extensions} -out {cert}",
    ]
    for command in commands:
        subprocess.run(["openssl", *command.split()], check=True, capture_output=True)
    return cert, key, ca


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl for the certificates")
def test_tls_redis(tmp_path: Path) -> None:
    cert, key, ca = make_tls_files(tmp_path)
    server = RedisProcess(tmp_path, tls=(cert, key, ca)).start()
    url = f"rediss://127.0.0.1:{server.port}/0"
    gateways: list[Gateway] = []
    try:
        trusted = Gateway(
            f"127.0.0.1:{free_port()}", url, extra_env={"GATEWAY_REDIS_CA_FILE": str(ca)}
        )
        untrusted = Gateway(f"127.0.0.1:{free_port()}", url)  # the system's CAs only
        plain = Gateway(f"127.0.0.1:{free_port()}", f"redis://127.0.0.1:{server.port}/0")
        gateways += [trusted, untrusted, plain]
        assert post_interaction(trusted, {"user_id": 2, "item_id": 20}).status_code == 201
        assert post_interaction(untrusted, {"user_id": 2, "item_id": 21}).status_code == 503
        assert post_interaction(plain, {"user_id": 2, "item_id": 22}).status_code == 503
        client = redis.Redis.from_url(url, ssl_ca_certs=str(ca))
        assert client.smembers(online_interactions_key(2)) == {b"20"}
    finally:
        for gateway in gateways:
            gateway.stop()
        server.stop()


def wait_until_served(url: str, params: dict[str, int], seconds: float = 30) -> None:
    """A fresh executor's first requests can exceed the gateway's 1 s timeout (cold start)."""
    deadline = time.monotonic() + seconds
    while requests.get(url, params=params, timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the stack never answered 200"
        time.sleep(0.2)


# -- faults on the real stack: Triton shutting down, Redis down ----------------------------------


@pytest.mark.slow
def test_triton_shutting_down_gives_503_never_502(
    model_repository: Path, redis_url: str, users: np.ndarray
) -> None:
    """While tritonserver unloads its models on SIGTERM it still answers gRPC, with 'unknown
    model': the gateway must say 503 + Retry-After, not 502."""
    statuses: Counter[int] = Counter()
    with (
        serving(model_repository, redis_url) as server,
        Gateway(server.grpc_url, redis_url, timeout_s=1.0) as gateway,
    ):
        url, params = f"{gateway.url}/recommend", {"user_id": int(users[0])}
        wait_until_served(url, params)
        assert server.pid is not None
        os.kill(server.pid, signal.SIGTERM)  # the server only, as `docker stop` does
        deadline = time.monotonic() + 60
        while server.running and time.monotonic() < deadline:
            response = requests.get(url, params=params, timeout=5)
            statuses[response.status_code] += 1
            if response.status_code == 503:
                assert response.headers["Retry-After"] == "1"
                assert "unknown model" not in response.text
            time.sleep(0.02)
        assert not server.running, "tritonserver did not exit"
        assert set(statuses) <= {200, 503}, statuses
        assert statuses[503] > 0, statuses
        assert metric(gateway, "gateway_triton_call_seconds_count", outcome="model_unavailable")
        assert metric(gateway, "gateway_requests_total", route="/recommend", status="502") == 0


@pytest.mark.slow
def test_redis_down_gives_503_then_recovers(
    tmp_path: Path, model_repository: Path, build_dir: Path, users: np.ndarray
) -> None:
    """Redis stopped: /recommend 503 with Retry-After within the timeout (the executor reports
    UNAVAILABLE), /readyz names Redis; Redis back empty: still 503; state restored: 200."""
    store = RedisProcess(tmp_path).start()
    redis_url = f"redis://127.0.0.1:{store.port}/0"
    build_id = manifest.build_id(build_dir)
    with contextlib.ExitStack() as stack:
        stack.callback(store.stop)  # last, after the server and the gateway
        materialize(build_dir, redis_url, build_id)
        server = stack.enter_context(serving(model_repository, redis_url))
        gateway = stack.enter_context(Gateway(server.grpc_url, redis_url, timeout_s=1.0))
        url, params = f"{gateway.url}/recommend", {"user_id": int(users[0])}
        wait_until_served(url, params)
        assert requests.get(f"{gateway.url}/readyz", timeout=5).status_code == 200

        store.stop()
        for _ in range(5):
            start = time.monotonic()
            response = requests.get(url, params=params, timeout=5)
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"] == "1"
            assert time.monotonic() - start < 1.5
        ready = requests.get(f"{gateway.url}/readyz", timeout=5)
        assert ready.status_code == 503 and "redis: unreachable" in ready.json()["problems"]
        assert post_interaction(gateway, {"user_id": 1, "item_id": 2}).status_code == 503

        store.start()  # back, but empty: it holds no build
        assert requests.get(url, params=params, timeout=5).status_code == 503
        ready = requests.get(f"{gateway.url}/readyz", timeout=5).json()
        assert any("holds no build" in problem for problem in ready["problems"]), ready

        materialize(build_dir, redis_url, build_id)
        deadline = time.monotonic() + 5
        while requests.get(url, params=params, timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "no recovery after the state came back"
            time.sleep(0.1)
        assert requests.get(f"{gateway.url}/readyz", timeout=5).status_code == 200

        # another build named the served one (a rollout elsewhere): each model version reads
        # its own build's namespace, so this one keeps answering and the gateway stays ready
        redis.Redis.from_url(redis_url).set(ONLINE_BUILD_KEY, "another-build")
        assert requests.get(f"{gateway.url}/readyz", timeout=5).status_code == 200
        assert requests.get(url, params=params, timeout=5).status_code == 200
