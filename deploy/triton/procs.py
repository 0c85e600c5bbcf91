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


def program_name(pid: int) -> str:
    """The process's name (/proc/PID/comm, at most 15 characters); "" when it is gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def is_tritonserver(pid: int) -> bool:
    return program_name(pid) == "tritonserver"


SUPERVISOR_MODULE = "deploy.stack.supervisor"
"""The module a supervisor runs (`python -m deploy.stack.supervisor NAME`, beside `NAME.pid`)."""


def command_line(pid: int) -> list[str]:
    """A process's arguments; [] when it is gone (or a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")[:-1] if raw else []


def is_watchdog(pid: int) -> bool:
    return "deploy.triton.watchdog" in command_line(pid)


def is_supervisor(pid: int) -> bool:
    return process_alive(pid) and SUPERVISOR_MODULE in command_line(pid)


def supervisor_pid_file(pid_file: Path) -> Path:
    """Where the supervisor of the server recorded in ``pid_file`` records its own PID
    (``X.pid`` -> ``X.supervisor.pid``)."""
    return pid_file.with_name(f"{pid_file.stem}.supervisor.pid")


def live_supervisor(pid_file: Path) -> int | None:
    """The PID of the live supervisor of the server recorded in ``pid_file``; None if none
    (a stale record, or a PID reused by another program, counts as none)."""
    pid = read_pid(supervisor_pid_file(pid_file))
    return pid if pid is not None and is_supervisor(pid) else None


def stop_supervisor(pid_file: Path, timeout: float) -> int | None:
    """Stop the supervisor of the server recorded in ``pid_file`` first, so that it does not
    restart the server being stopped; its PID (None: there was none). Its record is removed."""
    pid = live_supervisor(pid_file)
    if pid is not None:
        terminate_group(pid, timeout=timeout)
    supervisor_pid_file(pid_file).unlink(missing_ok=True)
    return pid


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
