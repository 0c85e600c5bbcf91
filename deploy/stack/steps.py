"""What every step of `deploy.stack` does the same way: report, run a command, probe, PIDs
(a started process is recorded only once it is ready: start_recorded)."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from deploy.stack.settings import REPO_ROOT, StackError
from deploy.triton.procs import process_alive, read_pid, terminate_group, write_pid_file


def say(message: str) -> None:
    print(f"[run] {message}", flush=True)


def run_step(args: list[str], env: dict[str, str] | None = None) -> None:
    """Run ``args`` from the repository root; a non-zero exit is a StackError naming it."""
    env = {**(env or os.environ), "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    result = subprocess.run(args, cwd=REPO_ROOT, env=env)
    if result.returncode != 0:
        raise StackError(f"`{' '.join(args[1:])}` failed (exit {result.returncode})")


def http_ok(url: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def running(pid_file: Path) -> bool:
    pid = read_pid(pid_file)
    return pid is not None and process_alive(pid)


def start_recorded(
    command: list[str],
    *,
    env: dict[str, str],
    log_file: Path,
    pid_file: Path,
    ready: Callable[[], bool],
    timeout_s: float,
    stop_timeout_s: float,
    label: str,
) -> int:
    """Start ``command`` in its own session (it outlives `run`) and record its PID in
    ``pid_file`` once ``ready()``; StackError (one line) when it exits first or is not ready
    in time, with the process stopped and nothing recorded."""
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        wait_until_ready(process, ready, timeout_s, label, log_file)
        write_pid_file(pid_file, process.pid)
    except BaseException:  # ^C included: never leave a process nobody recorded
        terminate_group(process.pid, timeout=stop_timeout_s, process=process)
        raise
    return process.pid


def wait_until_ready(
    process: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    timeout_s: float,
    label: str,
    log_file: Path,
) -> None:
    wait_while_running(
        process,
        ready,
        timeout_s,
        exited=lambda code: StackError(
            f"{label} exited with code {code} before it was ready; see {log_file}"
        ),
        late=lambda: StackError(
            f"{label} was not ready after {timeout_s:g} s (stopped); see {log_file}"
        ),
    )


def wait_while_running(
    process: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    timeout_s: float,
    *,
    exited: Callable[[int], Exception],
    late: Callable[[], Exception],
    interval_s: float = 0.1,
) -> None:
    """Until ``ready()``, asked every ``interval_s``: raises ``exited(exit code)`` if ``process``
    ends first, ``late()`` once ``timeout_s`` seconds have passed."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if process.poll() is not None:
            raise exited(process.returncode)
        if time.monotonic() > deadline:
            raise late()
        time.sleep(interval_s)
