"""The servers a supervisor keeps, as it sees them: start one (ready, recorded in its PID file),
take over one that already runs, clean up after one that exited.

Only the parent of a process learns how it exited, so a supervisor starts its server itself:
redis-server in the foreground, tritonserver through ``TritonServer`` (which starts the
watchdog beside it, as `launch start` does). A server it found running (started before the
supervisor, e.g. by an older `make run`) is watched through /proc until it exits.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from deploy.stack.redis_server import answers_ping, start_redis_server
from deploy.stack.settings import StackSettings
from deploy.triton.procs import (
    is_tritonserver,
    process_alive,
    read_pid,
    terminate_group,
    write_pid_file,
)
from deploy.triton.server import TritonServer
from deploy.triton.watchdog_process import stop_watchdog, watchdog_pid_file


@dataclass
class Running:
    """A server that got ready (or was found running), as its supervisor watches it."""

    pid: int
    process: subprocess.Popen[bytes] | None
    """Our child; None for a server the supervisor found running (not its child)."""
    since: float = field(default_factory=time.monotonic)

    def wait(self, interval_s: float) -> int | None:
        """Until it exits; its exit status (None when it was not our child)."""
        if self.process is not None:
            return self.process.wait()
        while process_alive(self.pid):
            time.sleep(interval_s)
        return None


class Server(Protocol):
    label: str
    """The program's name in the log: redis-server, tritonserver."""
    pid_file: Path

    def start(self) -> Running:
        """Start it and return once it is ready and recorded in ``pid_file``; a LaunchError
        (one line) when it does not get there, with nothing left running or recorded."""
        ...

    def running(self) -> Running | None:
        """The server the PID file names, if it runs (to be watched, not started again)."""
        ...

    def clean_up(self, exited: Running) -> None:
        """After it exited: what it left behind (its process group, record) is gone."""
        ...


class SupervisedRedis:
    label = "redis-server"

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.pid_file = settings.pid_file("redis")

    def start(self) -> Running:
        process = start_redis_server(self.settings)
        try:
            write_pid_file(self.pid_file, process.pid)
        except BaseException:  # e.g. SIGTERM: never leave a server nobody recorded
            terminate_group(process.pid, timeout=self.settings.stop_timeout_s, process=process)
            raise
        return Running(process.pid, process)

    def running(self) -> Running | None:
        pid = read_pid(self.pid_file)
        url = self.settings.private_redis_url
        if pid is None or not process_alive(pid):
            return None
        return Running(pid, None) if answers_ping(url, self.settings.probe_timeout_s) else None

    def clean_up(self, exited: Running) -> None:
        kill_leftovers(exited.pid)  # an AOF rewrite child may outlive a killed redis-server
        forget(self.pid_file, exited.pid)


class SupervisedTriton:
    label = "tritonserver"

    def __init__(self, settings: StackSettings, redis_url: str) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.pid_file = settings.pid_file("triton")
        self.server: TritonServer | None = None

    def start(self) -> Running:
        http, grpc, metrics = self.settings.triton_ports
        server = TritonServer(
            self.settings.model_repository,
            http_port=http,
            grpc_port=grpc,
            metrics_port=metrics,
            run_dir=self.settings.run_dir / "triton",
            log_file=self.settings.run_dir / "triton.log",
            pid_file=self.pid_file,
            extra_env={"REDIS_URL": self.redis_url},
            stop_at_exit=False,
        )
        server.start()  # records its PID at once, removes it if the start fails
        assert server.process is not None
        self.server = server
        return Running(server.process.pid, server.process)

    def running(self) -> Running | None:
        pid = read_pid(self.pid_file)
        if pid is None or not process_alive(pid) or not is_tritonserver(pid):
            return None
        return Running(pid, None)

    def clean_up(self, exited: Running) -> None:
        """Its watchdog (which exits with it anyway), and the python-backend processes left in
        its group after a kill -9 (they may hold its ports and shared memory)."""
        watchdog = self.server.watchdog_process if self.server is not None else None
        stop_watchdog(watchdog_pid_file(self.pid_file), self.settings.stop_timeout_s)
        if watchdog is not None:
            watchdog.poll()  # reaped: it was our child
        self.server = None
        kill_leftovers(exited.pid)
        forget(self.pid_file, exited.pid)


def kill_leftovers(pgid: int) -> None:
    """SIGKILL what is left of the process group of a server that exited: with their server
    gone, they have nobody to shut them down (python-backend stubs ignore SIGTERM)."""
    terminate_group(pgid, timeout=0.0)


def forget(pid_file: Path, pid: int) -> None:
    """Remove ``pid_file`` if it still names ``pid``."""
    if read_pid(pid_file) == pid:
        pid_file.unlink(missing_ok=True)
