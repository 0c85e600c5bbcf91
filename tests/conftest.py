"""Shared fixtures: a real Redis, and one small real build per test session."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import redis

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_ROWS = 20_000
TEST_SEED = 7


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port free now and never handed out before in this test process.

    The kernel may give the same ephemeral port to two binds in a row once the first socket is
    closed, so three calls for one server's http, grpc and metrics ports could collide (CI saw
    http == metrics); remembering what was handed out rules that out.
    """
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def wait_for_redis(url: str, timeout: float = 10.0) -> None:
    wait_for_ping(redis.Redis.from_url(url), timeout)


def wait_for_ping(client: redis.Redis, timeout: float) -> None:
    """Until `client` (a single server or a cluster) answers PING, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def flushed_db(redis_server: str, db: int) -> Iterator[redis.Redis]:
    """A client of database `db` of the session's Redis, emptied before and after."""
    connection = redis.Redis.from_url(f"{redis_server}/{db}")
    connection.flushdb()
    try:
        yield connection
    finally:
        connection.flushdb()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """Base URL (no db) of a real Redis: $REDIS_URL's server if set, else our own on a free port."""
    if os.environ.get("REDIS_URL"):
        url = os.environ["REDIS_URL"]
        yield url.rsplit("/", 1)[0] if url.count("/") > 2 else url
        return
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=workdir,
            stdout=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}"
        try:
            wait_for_redis(url)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_url(redis_server: str) -> str:
    """The database the session build materializes into (db 0)."""
    return f"{redis_server}/0"


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Path:
    """A complete build on planted synthetic data, made once per session."""
    from training.build.pipeline import BuildConfig, run

    out = tmp_path_factory.mktemp("session") / "build"
    run(BuildConfig(out=out, redis_url=redis_url, rows=TEST_ROWS, seed=TEST_SEED))
    return out


LONGTAIL_TEST_ROWS = 50_000
"""The longtail world's catalogue is rows / 67 items: 50k rows give 746, so that recall@100 is
not a large share of the catalogue."""


@pytest.fixture(scope="session")
def longtail_build_dir(tmp_path_factory: pytest.TempPathFactory, redis_server: str) -> Path:
    """A complete build on the second generator (`--synthetic longtail`), once per session,
    materialized into Redis db 2 (the planted session build owns db 0)."""
    from training.build.pipeline import BuildConfig, run

    out = tmp_path_factory.mktemp("session_longtail") / "build"
    config = BuildConfig(
        out=out,
        redis_url=f"{redis_server}/2",
        rows=LONGTAIL_TEST_ROWS,
        seed=TEST_SEED,
        synthetic="longtail",
    )
    run(config)
    return out


@pytest.fixture(scope="session")
def model_repository(tmp_path_factory: pytest.TempPathFactory, build_dir: Path) -> Path:
    """The session build exported as a Triton model repository."""
    from training.build.export import export_repository

    repository = tmp_path_factory.mktemp("model_repository")
    export_repository(build_dir, repository)
    return repository


PORT_NAMES = ("http_port", "grpc_port", "metrics_port")


def triton_server(
    repository: Path,
    redis_url: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    **options: Any,
) -> Any:
    """deploy.triton's TritonServer for `repository`, not started: on free ports unless `options`
    name them (`ports_of(server)`: another server's), its online store `redis_url` (REDIS_URL)
    and `env` in its environment, any other TritonServer option as given."""
    from deploy.triton.launch import TritonServer

    extra_env = {**({"REDIS_URL": redis_url} if redis_url is not None else {}), **(env or {})}
    ports = {name: free_port() for name in PORT_NAMES}
    return TritonServer(repository, extra_env=extra_env, **{**ports, **options})


def ports_of(server: Any) -> dict[str, int]:
    """`server`'s three ports, as triton_server takes them (a restart on the same addresses)."""
    return dict(zip(PORT_NAMES, server.ports, strict=True))


@contextlib.contextmanager
def serving(
    repository: Path,
    redis_url: str | None = None,
    *,
    timeout: float = 180,
    env: Mapping[str, str] | None = None,
    **options: Any,
) -> Iterator[Any]:
    """A real tritonserver (triton_server's) serving `repository`, ready within `timeout`
    seconds; stopped on exit, whatever state the test left it in."""
    server = triton_server(repository, redis_url, env=env, **options).start(timeout=timeout)
    try:
        yield server
    finally:
        server.stop()


def serve_versions(model: Path, versions: Iterable[int]) -> None:
    """Make Triton serve `versions` of the model directory `model` at once, one process each."""
    config = model / "config.pbtxt"
    text = re.sub(r"count: \d+", "count: 1", config.read_text())
    listed = ", ".join(str(version) for version in versions)
    config.write_text(text + f"\nversion_policy: {{ specific: {{ versions: [{listed}] }} }}\n")


@pytest.fixture(scope="session")
def triton(model_repository: Path, redis_url: str) -> Iterator[object]:
    """A real tritonserver serving the exported repository on free ports."""
    with serving(model_repository, redis_url) as server:
        yield server


GATEWAY_PYTHON = REPO_ROOT / ".venvs" / "gateway" / "bin" / "python"


class Gateway:
    """The FastAPI gateway as a real uvicorn process in its own environment."""

    def __init__(
        self,
        triton_url: str,
        redis_url: str,
        timeout_s: float = 1.0,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        if not GATEWAY_PYTHON.exists():
            raise RuntimeError(f"{GATEWAY_PYTHON} missing: run `make setup`")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "GATEWAY_TRITON_URL": triton_url,
            "GATEWAY_REDIS_URL": redis_url,
            "GATEWAY_PORT": str(self.port),
            "GATEWAY_REQUEST_TIMEOUT_S": str(timeout_s),
            "GATEWAY_LOG_LEVEL": "warning",
            **(extra_env or {}),
        }
        self.process = subprocess.Popen(
            [str(GATEWAY_PYTHON), "-m", "services.gateway"], cwd=REPO_ROOT, env=env
        )
        self._wait_alive()

    def _wait_alive(self, timeout: float = 30.0) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.process.returncode}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("gateway did not come up")

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="session")
def gateway(triton, redis_url: str) -> Iterator[Gateway]:  # type: ignore[no-untyped-def]
    with Gateway(triton.grpc_url, redis_url, timeout_s=5.0) as server:  # lenient: busy CI
        yield server
