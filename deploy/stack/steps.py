"""What every step of `deploy.stack` does the same way: report, run a command, probe, PIDs."""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from deploy.stack.settings import REPO_ROOT, StackError
from deploy.triton.procs import process_alive, read_pid


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
