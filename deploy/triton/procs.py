"""Processes as /proc shows them: process groups, PID files, SIGTERM-then-SIGKILL."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from deploy.triton.errors import LaunchError


@dataclass(frozen=True)
class ProcStat:
    state: str  # "Z" for a zombie
    ppid: int
    pgid: int


def proc_stat(pid: int) -> ProcStat | None:
    """State, parent and process group of a process, from /proc; None if it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return ProcStat(state=fields[0], ppid=int(fields[1]), pgid=int(fields[2]))


def process_alive(pid: int) -> bool:
    stat = proc_stat(pid)
    return stat is not None and stat.state != "Z"


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat is not None and stat.pgid == pgid and stat.state != "Z":
                members.append(int(entry.name))
    return members


def is_tritonserver(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "tritonserver"
    except OSError:
        return False


def is_watchdog(pid: int) -> bool:
    try:
        return b"deploy.triton.watchdog" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def read_pid(pid_file: Path) -> int | None:
    """The PID a PID file records; None when it is missing or holds no PID above 1."""
    try:
        text = pid_file.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 1 else None


def write_pid_file(path: Path, pid: int) -> None:
    """Written atomically: a reader never sees a half-written PID."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(f"{pid}\n")
    os.replace(tmp, path)


def terminate_group(
    pgid: int, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None
) -> str:
    """SIGTERM the process group, wait, SIGKILL what is left; 'terminated', 'killed' or 'gone'."""

    def wait(seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while True:
            if process is not None:
                process.poll()  # reap our own child so it does not linger as a zombie
            if not group_members(pgid):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    if not group_members(pgid):
        if process is not None:
            process.poll()
        return "gone"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    if wait(timeout):
        return "terminated"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    if wait(10.0):
        return "killed"
    raise LaunchError(f"process group {pgid} still alive after SIGKILL")
