"""The executor model when Redis fails: a real tritonserver on its own real redis-server.

Redis stopped or paused -> UNAVAILABLE (retryable) within the Redis timeout, no internal
address in the message, one log line per outage, answers again once Redis is back; Redis
without this build's state -> UNAVAILABLE saying so, never fallbacks for known users.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pandas as pd
import pytest
import redis
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from services.ensemble.contract import INPUT, MODEL_NAME, build_key
from services.ensemble.graph import build_id
from tests.conftest import free_port, serving, wait_for_redis
from training.build.artifacts import ARTIFACTS
from training.build.materialize import materialize

pytestmark = pytest.mark.slow
REDIS_TIMEOUT_S = 0.5  # the executor's default (EnsembleSettings.redis_timeout_s)


class OwnRedis:
    """A redis-server that can be stopped, paused and started again with its data (RDB file)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self.process = subprocess.Popen(
            [*command, "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
        )
        wait_for_redis(self.url)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            redis.Redis.from_url(self.url).save()
            self.process.terminate()
            self.process.wait(timeout=10)

    def signal(self, number: int) -> None:
        assert self.process is not None
        self.process.send_signal(number)


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory, build_dir: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path_factory.mktemp("own_redis"))
    server.start()
    materialize(build_dir, server.url, build_id(build_dir))
    try:
        yield server
    finally:
        if server.process is not None:
            server.process.send_signal(signal.SIGCONT)
            server.process.terminate()
            server.process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(model_repository: Path, own_redis: OwnRedis) -> Iterator[object]:
    with serving(model_repository, own_redis.url) as triton:
        yield triton


@pytest.fixture(scope="module")
def user(build_dir: Path) -> int:
    table = pd.read_parquet(
        build_dir / ARTIFACTS["feature_repo"] / "data" / "user_features.parquet"
    )
    return int(table["user_id"].iloc[0])


def infer(url: str, user: int) -> grpcclient.InferResult:
    request = grpcclient.InferInput(INPUT, [1, 1], "INT32")
    request.set_data_from_numpy(np.asarray([[user]], dtype=np.int32))
    return grpcclient.InferenceServerClient(url).infer(MODEL_NAME, [request], client_timeout=5)


def failure(url: str, user: int) -> tuple[InferenceServerException, float]:
    start = time.perf_counter()
    with pytest.raises(InferenceServerException) as caught:
        infer(url, user)
    return caught.value, time.perf_counter() - start


def wait_until_answered(url: str, user: int, timeout: float = 10.0) -> float:
    """Seconds until a request succeeds again (bounded)."""
    start = time.perf_counter()
    while True:
        try:
            infer(url, user)
            return time.perf_counter() - start
        except InferenceServerException:
            if time.perf_counter() - start > timeout:
                raise
            time.sleep(0.05)


def outage_lines(server: object) -> list[str]:
    log = server.log_file.read_text(errors="replace")  # type: ignore[attr-defined]
    return [line for line in log.splitlines() if "failing requests with UNAVAILABLE" in line]


def test_stopped_redis_is_unavailable_quickly_and_recovers(server, own_redis, user) -> None:  # type: ignore[no-untyped-def]
    assert not infer(server.grpc_url, user).as_numpy("fallback")[0]
    own_redis.stop()
    try:
        errors = [failure(server.grpc_url, user) for _ in range(20)]
    finally:
        own_redis.start()
    for error, seconds in errors:
        assert error.status() == str(grpc.StatusCode.UNAVAILABLE)
        assert "online store unavailable" in error.message()
        assert "127.0.0.1" not in error.message() and str(own_redis.port) not in error.message()
        assert seconds < REDIS_TIMEOUT_S + 0.5
    assert wait_until_answered(server.grpc_url, user) < 2.0
    assert not infer(server.grpc_url, user).as_numpy("fallback")[0]
    assert 1 <= len(outage_lines(server)) <= 2  # one per model instance that saw the outage


def test_paused_redis_fails_within_the_timeout_and_recovers(server, own_redis, user) -> None:  # type: ignore[no-untyped-def]
    own_redis.signal(signal.SIGSTOP)
    try:
        error, seconds = failure(server.grpc_url, user)
    finally:
        own_redis.signal(signal.SIGCONT)
    assert error.status() == str(grpc.StatusCode.UNAVAILABLE)
    assert seconds < REDIS_TIMEOUT_S + 0.5
    assert wait_until_answered(server.grpc_url, user) < 2.0


def test_redis_without_the_build_is_unavailable_not_fallback(  # type: ignore[no-untyped-def]
    server, own_redis, user, build_dir: Path
) -> None:
    client = redis.Redis.from_url(own_redis.url)
    ours = build_id(build_dir)
    client.delete(build_key(ours))
    try:
        errors = [failure(server.grpc_url, unknown)[0] for unknown in (user, -1)]
        client.set(build_key("some-other-build"), "some-other-build")  # another build's state
        errors.append(failure(server.grpc_url, user)[0])
    finally:
        client.set(build_key(ours), ours)
    for error in errors:
        assert error.status() == str(grpc.StatusCode.UNAVAILABLE)
        assert f"online store does not hold build {ours}" in error.message()
    assert not infer(server.grpc_url, user).as_numpy("fallback")[0]
