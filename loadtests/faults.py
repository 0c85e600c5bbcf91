"""The faults the reliability run injects into a running `make run` stack: each injects,
waits, heals and returns a note (loadtests/reliability.py lists what each does)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from deploy.stack import StackSettings, ensure_redis, ensure_triton, read_pid, running_redis_url
from deploy.triton.launch import stop_server, terminate_group
from deploy.triton.watchdog import stubs_of


def redis_pause(settings: StackSettings, fault_s: float) -> str:
    pid = _pid(settings, "redis")
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(fault_s)
    finally:
        os.kill(pid, signal.SIGCONT)
    return f"redis-server pid {pid} stopped {fault_s:g} s"


def redis_restart(settings: StackSettings, fault_s: float) -> str:
    pid = _pid(settings, "redis")
    terminate_group(pid, timeout=10.0)
    ensure_redis(settings)
    return f"redis-server pid {pid} stopped (SIGTERM) and started again"


def redis_kill(settings: StackSettings, fault_s: float) -> str:
    pid = _pid(settings, "redis")
    os.kill(pid, signal.SIGKILL)
    time.sleep(fault_s)
    ensure_redis(settings)
    return f"redis-server pid {pid} killed; restarted after {fault_s:g} s"


def instance_kill(settings: StackSettings, fault_s: float) -> str:
    server = _pid(settings, "triton")
    stubs = [stub for stub in stubs_of(server) if not stub.dead]
    if not stubs:
        raise SystemExit("error: no live python-backend process under tritonserver")
    killed = stubs[0]
    log = settings.run_dir / "triton.log"
    offset = log.stat().st_size if log.exists() else 0
    os.kill(killed.pid, signal.SIGKILL)
    began = time.monotonic()
    reloaded = _wait_for_reload(log, offset)
    waited = time.monotonic() - began
    if not reloaded:
        return f"killed stub pid {killed.pid} ({killed.instance}); no reload in {waited:.0f} s"
    return f"killed stub pid {killed.pid} ({killed.instance}); reloaded after {waited:.1f} s"


RELOAD_TIMEOUT_S = 300.0
"""How long the watchdog may take to reload the model (seconds on a quiet machine, more under
load): the recovery is measured from the reload on, as for Redis and Triton."""
RELOADED = "reloaded '"
"""What the watchdog writes to Triton's log once fresh instances serve the model."""


def _wait_for_reload(log: Path, offset: int) -> bool:
    """True once the watchdog logged a finished reload after `offset` (a new stub process alone
    is not enough: it loads the models for seconds before it serves)."""
    deadline = time.monotonic() + RELOAD_TIMEOUT_S
    while time.monotonic() < deadline:
        if log.exists():
            with log.open("rb") as file:
                file.seek(offset)
                if RELOADED.encode() in file.read():
                    return True
        time.sleep(0.2)
    return False


def triton_restart(settings: StackSettings, fault_s: float) -> str:
    message = stop_server(settings.pid_file("triton"))
    ensure_triton(settings, running_redis_url(settings))
    return message


INJECT: dict[str, Callable[[StackSettings, float], str]] = {
    "redis-pause": redis_pause,
    "redis-restart": redis_restart,
    "redis-kill": redis_kill,
    "instance-kill": instance_kill,
    "triton-restart": triton_restart,
}
FAULTS = tuple(INJECT)
"""The faults' names, in the default order of a run."""


def _pid(settings: StackSettings, name: str) -> int:
    pid = read_pid(settings.pid_file(name))
    if pid is None:
        raise SystemExit(f"error: no {name} PID file in {settings.run_dir}: is `make run` up?")
    return pid
