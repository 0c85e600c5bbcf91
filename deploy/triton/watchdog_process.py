"""The watchdog beside a server: started once the server is ready, recorded beside its PID
file (``X.pid`` -> ``X.watchdog.pid``), stopped first so it does not reload models meanwhile."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from deploy.triton.procs import is_watchdog, read_pid, terminate_group, write_pid_file
from deploy.triton.settings import TritonSettings

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # holds deploy/, for `-m deploy.triton.watchdog`


def watchdog_pid_file(pid_file: Path) -> Path:
    """Where the watchdog of the server recorded in ``pid_file`` records its own PID."""
    return pid_file.with_name(f"{pid_file.stem}.watchdog.pid")


def start_watchdog(
    server_pid: int,
    host: str,
    http_port: int,
    log_file: Path,
    settings: TritonSettings,
    pid_file: Path | None = None,
    model_repository: Path | None = None,
) -> subprocess.Popen[bytes]:
    """``python -m deploy.triton.watchdog`` in its own session, its output appended to the log."""
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "deploy.triton.watchdog",
                f"--server-pid={server_pid}",
                f"--host={host}",
                f"--http-port={http_port}",
                f"--interval={settings.watchdog_interval_s}",
                f"--load-timeout={settings.watchdog_load_timeout_s}",
                *([f"--model-repository={model_repository}"] if model_repository else []),
            ],
            cwd=PACKAGE_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the CLI; exits when the server is gone
        )
    if pid_file is not None:
        write_pid_file(pid_file, process.pid)
    return process


def stop_watchdog(pid_file: Path, timeout: float) -> None:
    """Stop the watchdog recorded in ``pid_file``, if it is one (not a reused PID)."""
    pid = read_pid(pid_file)
    if pid is not None and is_watchdog(pid):
        terminate_group(pid, timeout=timeout)
    pid_file.unlink(missing_ok=True)
