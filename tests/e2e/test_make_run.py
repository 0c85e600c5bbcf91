"""`make run` from scratch: environments ready, a build, a private Redis, Triton and the gateway
come up, a real request is answered, and `make stop` leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis
import requests

from services.ensemble.contract import ATTRIBUTION_PREFIX
from tests.conftest import REPO_ROOT, free_port

pytestmark = pytest.mark.slow


def make(target: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", target],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def build_state_keys(client: redis.Redis) -> int:
    """Keys of the build's online state: the gateway's click attribution writes its own keys
    for every answer (make run's own request included), which no rebuild or restore concerns."""
    return sum(
        1 for key in client.scan_iter(count=1000) if not key.startswith(ATTRIBUTION_PREFIX.encode())
    )


def alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text().lower()


def test_make_run_serves_and_make_stop_cleans_up(tmp_path: Path) -> None:
    gateway_port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "REDIS_URL"},
        "BUILD_DIR": str(tmp_path / "artifacts"),
        "MODEL_REPOSITORY": str(tmp_path / "model_repository"),
        "RUN_DIR": str(tmp_path / "run"),
        "ROWS": "4000",
        "RECSYS_REDIS_PORT": str(free_port()),
        "TRITON_HTTP_PORT": str(free_port()),
        "TRITON_GRPC_PORT": str(free_port()),
        "TRITON_METRICS_PORT": str(free_port()),
        "GATEWAY_PORT": str(gateway_port),
    }
    started = make("run", env, timeout=600)
    try:
        assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
        hint = [line for line in started.stdout.splitlines() if "curl '" in line]
        assert hint, started.stdout[-2000:]
        url = hint[0].split("'")[1]
        assert url.startswith(f"http://127.0.0.1:{gateway_port}/recommend?user_id=")
        body = requests.get(url, timeout=10).json()
        assert body["fallback"] is False and len(body["items"]) == 5

        pids = {
            name: int((tmp_path / "run" / f"{name}.pid").read_text())
            for name in ("redis", "triton", "gateway")
        }
        again = make("run", env, timeout=120)
        assert again.returncode == 0 and "already running" in again.stdout
        assert {n: int((tmp_path / "run" / f"{n}.pid").read_text()) for n in pids} == pids

        # Redis killed and started again: its append-only file brings the state back, no rebuild
        redis_url = f"redis://127.0.0.1:{env['RECSYS_REDIS_PORT']}/0"
        client = redis.Redis.from_url(redis_url)
        keys_before = build_state_keys(client)
        time.sleep(1.5)  # appendfsync everysec
        os.kill(pids["redis"], signal.SIGKILL)
        restarted = make("run", env, timeout=300)
        assert restarted.returncode == 0, restarted.stdout[-3000:] + restarted.stderr[-3000:]
        assert "already in Redis" in restarted.stdout and "materializing" not in restarted.stdout
        assert build_state_keys(client) == keys_before
        pids["redis"] = int((tmp_path / "run" / "redis.pid").read_text())
        assert requests.get(url, timeout=10).json()["fallback"] is False

        # a Redis that lost the state (emptied) is refilled by make run
        client.flushdb()
        refilled = make("run", env, timeout=300)
        assert refilled.returncode == 0, refilled.stdout[-3000:] + refilled.stderr[-3000:]
        assert "materializing" in refilled.stdout
        assert build_state_keys(client) == keys_before
    finally:
        stopped = make("stop", env, timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    assert not [name for name, pid in pids.items() if alive(pid)]
    stubs = subprocess.run(
        ["pgrep", "-f", str(tmp_path / "run")], capture_output=True, text=True
    ).stdout.split()
    assert not [pid for pid in stubs if alive(int(pid))]
