"""Step 4 of `run`: Triton serving the model repository, then the gateway; each waits until
ready and is left alone when it already runs."""

from __future__ import annotations

import os
import subprocess
import time

from deploy.stack.settings import (
    GATEWAY_PYTHON,
    MERLIN_PYTHON,
    REPO_ROOT,
    StackError,
    StackSettings,
)
from deploy.stack.steps import http_ok, run_step, running, say
from deploy.triton.procs import write_pid_file


def ensure_triton(settings: StackSettings, redis_url: str) -> str:
    """Triton's gRPC address; started with `deploy.triton.launch` (and its watchdog) if needed."""
    http, grpc, metrics = settings.triton_ports
    grpc_url = f"127.0.0.1:{grpc}"
    ready = f"http://127.0.0.1:{http}/v2/health/ready"
    if running(settings.pid_file("triton")) and http_ok(ready, settings.probe_timeout_s):
        say(f"Triton: {grpc_url} (already running)")
        return grpc_url
    run_step(
        [
            *(str(MERLIN_PYTHON), "-m", "deploy.triton.launch", "start"),
            *("--model-repository", str(settings.model_repository)),
            *("--http-port", str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics)),
            *("--run-dir", str(settings.run_dir / "triton")),
            *("--log-file", str(settings.run_dir / "triton.log")),
            *("--pid-file", str(settings.pid_file("triton"))),
        ],
        {**os.environ, "REDIS_URL": redis_url},
    )
    return grpc_url


def ensure_gateway(settings: StackSettings, triton_url: str, redis_url: str) -> str:
    """The gateway's base URL; started in its own environment and session if needed."""
    base = f"http://{settings.gateway_host}:{settings.gateway_port}"
    if running(settings.pid_file("gateway")) and http_ok(
        f"{base}/readyz", settings.probe_timeout_s
    ):
        say(f"gateway: {base} (already running)")
        return base
    if not GATEWAY_PYTHON.exists():
        raise StackError(f"{GATEWAY_PYTHON} missing: run `make setup`", 2)
    env = {
        **os.environ,
        "GATEWAY_TRITON_URL": triton_url,
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_HOST": settings.gateway_host,
        "GATEWAY_PORT": str(settings.gateway_port),
    }
    with (settings.run_dir / "gateway.log").open("ab") as log:
        process = subprocess.Popen(
            [str(GATEWAY_PYTHON), "-m", "services.gateway"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    write_pid_file(settings.pid_file("gateway"), process.pid)
    deadline = time.monotonic() + settings.gateway_ready_timeout_s
    while not http_ok(f"{base}/readyz", settings.probe_timeout_s):
        if process.poll() is not None or time.monotonic() > deadline:
            raise StackError(f"the gateway did not get ready; see {settings.run_dir}/gateway.log")
        time.sleep(0.2)
    say(f"gateway: {base} (pid {process.pid})")
    return base
