"""The faults the reliability run injects into a running `make run` stack: each injects, waits,
heals and returns when and what it injected (loadtests/reliability.py lists what each does).

Each takes `wait_s`: how long a pause lasts, or how long a killed server (redis-kill,
triton-kill) gets to come back by itself before the run starts it again so the next faults can
run (the run gives it its outage limit and a little more: a server started by the run has
missed its limit)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis

from deploy.stack import StackSettings, ensure_redis, ensure_triton, read_pid, running_redis_url
from deploy.triton.launch import process_alive, stop_server, terminate_group
from deploy.triton.probes import is_ready
from deploy.triton.watchdog import stubs_of
from services.ensemble.contract import MODEL_NAME


class FaultError(Exception):
    """A fault could not be injected (recorded in the report; the run goes on)."""


@dataclass(frozen=True)
class Injection:
    at: float
    """time.monotonic() when the fault was injected: the outage is measured from it."""
    note: str


def redis_pause(settings: StackSettings, wait_s: float) -> Injection:
    pid = _pid(settings, "redis")
    os.kill(pid, signal.SIGSTOP)
    at = time.monotonic()
    try:
        time.sleep(wait_s)
    finally:
        os.kill(pid, signal.SIGCONT)
    return Injection(at, f"redis-server pid {pid} stopped {wait_s:g} s")


def redis_restart(settings: StackSettings, wait_s: float) -> Injection:
    pid = _pid(settings, "redis")
    at = time.monotonic()
    terminate_group(pid, timeout=10.0)
    ensure_redis(settings)
    return Injection(at, f"redis-server pid {pid} stopped (SIGTERM) and started again")


def redis_kill(settings: StackSettings, wait_s: float) -> Injection:
    pid = _pid(settings, "redis")
    os.kill(pid, signal.SIGKILL)
    at = time.monotonic()
    url = settings.redis_url or settings.private_redis_url
    back = _back_by_itself(pid, lambda: _redis_answers(url), at + wait_s)
    if back is None:
        ensure_redis(settings)
    return Injection(at, f"redis-server pid {pid} killed; {_healed(back, wait_s)}")


def instance_kill(settings: StackSettings, wait_s: float) -> Injection:
    server = _pid(settings, "triton")
    stubs = [stub for stub in stubs_of(server) if not stub.dead and stub.model == MODEL_NAME]
    if not stubs:
        raise FaultError(f"no live {MODEL_NAME} process under tritonserver")
    killed = stubs[0]  # the executor's: the standby model answers meanwhile
    log = settings.run_dir / "triton.log"
    offset = log.stat().st_size if log.exists() else 0
    os.kill(killed.pid, signal.SIGKILL)
    at = time.monotonic()
    reloaded = _wait_for_reload(log, offset)
    waited = time.monotonic() - at
    if not reloaded:
        note = f"killed stub pid {killed.pid} ({killed.instance}); no reload in {waited:.0f} s"
    else:
        note = f"killed stub pid {killed.pid} ({killed.instance}); reloaded after {waited:.1f} s"
    return Injection(at, note)


RELOAD_TIMEOUT_S = 300.0
"""How long the watchdog may take to reload the model (seconds on a quiet machine, more under
load); the next fault waits for it."""
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


def triton_restart(settings: StackSettings, wait_s: float) -> Injection:
    at = time.monotonic()
    message = stop_server(settings.pid_file("triton"))
    ensure_triton(settings, running_redis_url(settings))
    return Injection(at, message)


def triton_kill(settings: StackSettings, wait_s: float) -> Injection:
    pid = _pid(settings, "triton")
    os.kill(pid, signal.SIGKILL)
    at = time.monotonic()
    http_port = settings.triton_ports[0]
    back = _back_by_itself(pid, lambda: is_ready("127.0.0.1", http_port, 1.0), at + wait_s)
    if back is None:
        ensure_triton(settings, running_redis_url(settings))
    return Injection(at, f"tritonserver pid {pid} killed; {_healed(back, wait_s)}")


def _back_by_itself(pid: int, answers: Callable[[], bool], deadline: float) -> float | None:
    """Seconds until a killed server (pid) answers again, None if not by `deadline`."""
    began = time.monotonic()
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)  # SIGKILL is not instant: the old process must not be the answer
    while time.monotonic() < deadline:
        if answers():
            return time.monotonic() - began
        time.sleep(0.1)
    return None


def _healed(back_s: float | None, wait_s: float) -> str:
    if back_s is None:
        return f"not back by itself within {wait_s:g} s: started by the run"
    return f"back by itself after {back_s:.1f} s"


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.5).ping())
    except redis.RedisError:  # down, or still loading its append-only file
        return False


INJECT: dict[str, Callable[[StackSettings, float], Injection]] = {
    "redis-pause": redis_pause,
    "redis-restart": redis_restart,
    "redis-kill": redis_kill,
    "instance-kill": instance_kill,
    "triton-restart": triton_restart,
    "triton-kill": triton_kill,
}
FAULTS = tuple(INJECT)
"""The faults' names, in the default order of a run."""
KILLS = ("redis-kill", "triton-kill")
"""Faults whose server must come back by itself: their wait_s is how long it gets."""


def _pid(settings: StackSettings, name: str) -> int:
    pid = read_pid(settings.pid_file(name))
    if pid is None:
        raise FaultError(f"no {name} PID file in {settings.run_dir}: is `make run` up?")
    return pid
