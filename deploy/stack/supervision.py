"""The launcher's side of a supervised server: make sure its supervisor runs, then wait until
the server it keeps is ready. The supervisor (supervisor.py) starts the server and records its
PID; the launcher never starts a server beside a live supervisor, it waits for it.

Records in RUN_DIR: ``NAME.pid`` (the server, written by the supervisor), ``NAME.supervisor.pid``
(the supervisor, written by itself while it runs); both supervisors log to ``supervisor.log``.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from deploy.stack.settings import MERLIN_PYTHON, REPO_ROOT, StackError, StackSettings
from deploy.triton.procs import SUPERVISOR_MODULE, live_supervisor, process_alive, read_pid

LABELS = {"redis": "redis-server", "triton": "tritonserver"}
"""The servers a supervisor keeps, by the name of their PID file."""


def supervisor_log(settings: StackSettings) -> Path:
    return settings.run_dir / "supervisor.log"


def ensure_supervised(
    name: str,
    settings: StackSettings,
    ready: Callable[[int], bool],
    timeout_s: float,
    env: dict[str, str] | None = None,
) -> str:
    """Wait until the server ``name`` (a key of LABELS) is ready under its supervisor, starting
    the supervisor if none runs; how it went: "already running", "restarted by its supervisor"
    or "started". ``ready(pid)`` tells whether the recorded server is ready."""
    supervisor = live_supervisor(settings.pid_file(name))
    if supervisor is not None:
        at_once = wait_until_ready(name, settings, ready, timeout_s, supervisor)
        return "already running" if at_once else "restarted by its supervisor"
    log_offset = log_size(supervisor_log(settings))
    process = start_supervisor(name, settings, env or {})
    try:
        wait_until_ready(name, settings, ready, timeout_s, process.pid, process, log_offset)
    except StackError:
        process.poll()
        raise
    return f"started, supervisor pid {process.pid}"


def start_supervisor(
    name: str, settings: StackSettings, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """``python -m deploy.stack.supervisor NAME`` in its own session (it outlives `run`), with
    these settings in its environment, its output appended to RUN_DIR/supervisor.log."""
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **settings.as_env(), **env}
    child_env = {key: value for key, value in full_env.items() if value is not None}
    child_env["PYTHONWARNINGS"] = "ignore::DeprecationWarning"
    with supervisor_log(settings).open("ab") as log:
        return subprocess.Popen(
            [str(MERLIN_PYTHON), "-m", SUPERVISOR_MODULE, name],
            cwd=REPO_ROOT,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_until_ready(
    name: str,
    settings: StackSettings,
    ready: Callable[[int], bool],
    timeout_s: float,
    supervisor: int,
    process: subprocess.Popen[bytes] | None = None,
    log_offset: int = 0,
) -> bool:
    """Until the recorded server is ready; whether it was at the first look. StackError (one
    line) when the supervisor exits first (it gave up) or the time is up."""
    deadline = time.monotonic() + timeout_s
    first_look = True
    while True:
        pid = read_pid(settings.pid_file(name))
        if pid is not None and process_alive(pid) and ready(pid):
            return first_look
        if (process.poll() is not None) if process else not process_alive(supervisor):
            raise StackError(supervisor_failure(name, settings, log_offset))
        if time.monotonic() > deadline:
            raise StackError(
                f"{LABELS[name]} not ready after {timeout_s:g} s; its supervisor (pid "
                f"{supervisor}) is still at it: see {supervisor_log(settings)}"
            )
        first_look = False
        time.sleep(0.1)


def supervisor_failure(name: str, settings: StackSettings, log_offset: int) -> str:
    """Why the supervisor of ``name`` exited: its last error line in the log after
    ``log_offset``, else a pointer to the log."""
    log = supervisor_log(settings)
    prefix = f"supervisor {name} "
    errors = [
        line.split("error: ", 1)[1]
        for line in lines_after(log, log_offset)
        if line.startswith(prefix) and "error: " in line
    ]
    if errors:
        return errors[-1]
    return f"the supervisor of {LABELS[name]} exited before it was ready; see {log}"


def lines_after(path: Path, offset: int, max_bytes: int = 256_000) -> list[str]:
    """The lines written to ``path`` after ``offset`` (at most the last ``max_bytes``)."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(offset, log_size(path) - max_bytes))
            return handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []


def log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
