"""Stopping the server recorded in a PID file (what `launch stop` and `make stop` run)."""

from __future__ import annotations

import time
from pathlib import Path

from deploy.triton.procs import (
    group_members,
    is_tritonserver,
    process_alive,
    stop_supervisor,
    terminate_group,
)
from deploy.triton.settings import TritonSettings
from deploy.triton.watchdog_process import stop_watchdog, watchdog_pid_file

HOW = {"killed": "SIGKILL after timeout", "terminated": "SIGTERM", "gone": "already gone"}


def stop_server(pid_file: Path, timeout: float | None = None) -> str:
    """Stop the server recorded in ``pid_file``; a missing or stale PID file is not an error.

    Its supervisor (``X.supervisor.pid``, which would restart it) and its watchdog go first.
    ``timeout`` (default: TRITON_STOP_TIMEOUT_S) is the wait after SIGTERM before SIGKILL."""
    settings = TritonSettings.from_env()
    stop_supervisor(pid_file, settings.supervisor_stop_timeout_s)
    stop_watchdog(watchdog_pid_file(pid_file), settings.watchdog_stop_timeout_s)
    if not pid_file.exists():
        return f"no PID file at {pid_file}: nothing to stop"
    text = pid_file.read_text().strip()
    if not text.isdigit() or int(text) <= 1:
        pid_file.unlink(missing_ok=True)
        return f"removed invalid PID file {pid_file} ({text[:20]!r})"
    pid = int(text)
    leader_alive = process_alive(pid)
    if leader_alive and not is_tritonserver(pid):
        pid_file.unlink(missing_ok=True)
        return f"removed stale PID file {pid_file}: pid {pid} is not tritonserver"
    if not leader_alive and not group_members(pid):
        pid_file.unlink(missing_ok=True)
        return f"removed stale PID file {pid_file}: pid {pid} is not running"
    # A group whose leader died can only hold the leader's own children (e.g. stubs): the kernel
    # does not hand out a PID that is still in use as a process group id.
    began = time.monotonic()
    outcome = terminate_group(pid, timeout=settings.stop_timeout_s if timeout is None else timeout)
    pid_file.unlink(missing_ok=True)
    return f"stopped tritonserver pid {pid} ({HOW[outcome]}, {time.monotonic() - began:.1f} s)"
