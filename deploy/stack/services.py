"""Step 4 of `run`: Triton serving the model repository, then the gateway; each waits until
ready and is left alone when it already runs.

Triton runs under its supervisor (supervision.py), which restarts it after a crash. The
gateway is not supervised; a live one (recorded, alive, its /healthz answering) is kept even
while its /readyz says 503 (Triton or Redis behind it is down or restarting): `run` waits for
what is behind it instead of starting a second gateway, which could not bind the port. A new
gateway is recorded in RUN_DIR/gateway.pid only once it is ready (steps.start_recorded)."""

from __future__ import annotations

import os
import time

from deploy.stack.settings import GATEWAY_PYTHON, StackError, StackSettings
from deploy.stack.steps import http_ok, say, start_recorded
from deploy.stack.supervision import ensure_supervised
from deploy.triton.probes import port_in_use
from deploy.triton.procs import command_line, is_tritonserver, process_alive, read_pid
from deploy.triton.settings import TritonSettings

GATEWAY_MODULE = "services.gateway"


def ensure_triton(settings: StackSettings, redis_url: str) -> str:
    """Triton's gRPC address, once it is ready under its supervisor (started if none runs)."""
    http, grpc, _ = settings.triton_ports
    ready_url = f"http://127.0.0.1:{http}/v2/health/ready"
    started = ensure_supervised(
        "triton",
        settings,
        ready=lambda pid: is_tritonserver(pid) and http_ok(ready_url, settings.probe_timeout_s),
        timeout_s=TritonSettings.from_env().ready_timeout_s + settings.restart_max_delay_s,
        env={"REDIS_URL": redis_url},
    )
    say(f"Triton: 127.0.0.1:{grpc} ({started}; log {settings.run_dir / 'triton.log'})")
    return f"127.0.0.1:{grpc}"


def ensure_gateway(settings: StackSettings, triton_url: str, redis_url: str) -> str:
    """The gateway's base URL once it answers /readyz: the live one, else one started now."""
    base = f"http://{settings.gateway_host}:{settings.gateway_port}"
    live = live_gateway(settings)
    if live is not None:
        wait_for_live_gateway(settings, base, live)
        say(f"gateway: {base} (already running, pid {live})")
        return base
    settings.pid_file("gateway").unlink(missing_ok=True)  # stale: its process is gone
    refuse_taken_port(settings, base)
    if not GATEWAY_PYTHON.exists():
        raise StackError(f"{GATEWAY_PYTHON} missing: run `make setup`", 2)
    pid = start_recorded(
        gateway_command(),
        env=gateway_env(settings, triton_url, redis_url),
        log_file=settings.run_dir / "gateway.log",
        pid_file=settings.pid_file("gateway"),
        ready=lambda: http_ok(f"{base}/readyz", settings.probe_timeout_s),
        timeout_s=settings.gateway_ready_timeout_s,
        stop_timeout_s=settings.stop_timeout_s,
        label="the gateway",
    )
    say(f"gateway: {base} (pid {pid})")
    return base


def gateway_command() -> list[str]:
    return [str(GATEWAY_PYTHON), "-m", GATEWAY_MODULE]


def gateway_env(settings: StackSettings, triton_url: str, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "GATEWAY_TRITON_URL": triton_url,
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_HOST": settings.gateway_host,
        "GATEWAY_PORT": str(settings.gateway_port),
    }


def is_gateway(pid: int) -> bool:
    return process_alive(pid) and GATEWAY_MODULE in command_line(pid)


def live_gateway(settings: StackSettings) -> int | None:
    """The recorded gateway's PID if it is alive (a gateway process, not a reused PID)."""
    pid = read_pid(settings.pid_file("gateway"))
    return pid if pid is not None and is_gateway(pid) else None


def wait_for_live_gateway(settings: StackSettings, base: str, pid: int) -> None:
    """Until the live gateway answers /readyz; it is kept whatever happens (StackError, one
    line, when it does not get ready or exits meanwhile)."""
    deadline = time.monotonic() + settings.gateway_ready_timeout_s
    waited = False
    while not http_ok(f"{base}/readyz", settings.probe_timeout_s):
        if not is_gateway(pid):
            raise StackError(f"the gateway (pid {pid}) exited; see {settings.run_dir}/gateway.log")
        if time.monotonic() > deadline:
            raise StackError(
                f"the gateway (pid {pid}) runs but is not ready after "
                f"{settings.gateway_ready_timeout_s:g} s: see {base}/readyz and "
                f"{settings.run_dir}/gateway.log (it is kept; `make stop` stops it)"
            )
        if not waited:
            say(f"gateway pid {pid} is alive but not ready (/readyz): waiting for it")
            waited = True
        time.sleep(0.2)


def refuse_taken_port(settings: StackSettings, base: str) -> None:
    """No gateway is recorded: a process holding the port is not ours to replace."""
    if port_in_use(settings.gateway_host, settings.gateway_port):
        raise StackError(
            f"{base} is taken by a process {settings.pid_file('gateway')} does not name: stop it "
            f"(`ss -ltnp 'sport = :{settings.gateway_port}'` shows it) or set GATEWAY_PORT"
        )
