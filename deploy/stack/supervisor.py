"""Keep one server of `make run` running: `python -m deploy.stack.supervisor redis|triton`.

Its one job: the server process. It starts the server (or watches the one already running),
and when the server crashes (any exit but code 0, which is a stop on purpose: SIGTERM, Redis
SHUTDOWN; the supervisor then exits too) it logs how (exit code or signal) and starts it again
after a back-off (restart_policy.py: 1, 2, 4, 8, 16 s; at most RECSYS_STACK_RESTART_TRIES
restarts in a row, the row starting afresh once the server stayed up
RECSYS_STACK_RESTART_RESET_AFTER_S).
When the row is used up it gives up and exits 1 (`make run` starts a fresh one). The first
start is not retried: its failure is the supervisor's exit 1, which `make run` reports.

One supervisor per server, so that a tritonserver start (seconds to minutes: the model loads)
never delays a redis-server restart (due within seconds), and each exit status reaches the
server's parent. What runs inside a live tritonserver is the watchdog's job
(deploy/triton/watchdog.py: it reloads a model whose python-backend process died, and exits
with the server); each tritonserver the supervisor starts gets a fresh watchdog.

It records its PID in RUN_DIR/NAME.supervisor.pid while it runs; SIGTERM (what `stop` sends,
before it stops the server by its PID file) ends it at once, stopping only a server it is still
starting (not yet recorded as ready). Settings: deploy/stack/settings.py, from the environment
the launcher passes; its lines go to RUN_DIR/supervisor.log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

from deploy.stack.restart_policy import RestartPolicy, exit_cause, is_crash
from deploy.stack.settings import StackError, StackSettings
from deploy.stack.supervised import Running, Server, SupervisedRedis, SupervisedTriton
from deploy.triton.errors import LaunchError
from deploy.triton.procs import live_supervisor, read_pid, supervisor_pid_file, write_pid_file

USAGE = "usage: python -m deploy.stack.supervisor redis|triton"


class Supervisor:
    def __init__(self, name: str, server: Server, policy: RestartPolicy, interval_s: float) -> None:
        self.name = name
        self.server = server
        self.policy = policy
        self.interval_s = interval_s

    def say(self, message: str) -> None:
        say(self.name, message)

    def run(self) -> int:
        """Keep the server running until it is stopped on purpose (exit 0) or the restarts
        are used up (exit 1)."""
        running = self.first()
        while True:
            status = running.wait(self.interval_s)
            exited_at = time.monotonic()
            if not is_crash(status):
                self.stopped(running)
                return 0
            restarted = self.restart(running, status)
            if restarted is None:
                return 1
            self.say(
                f"{self.server.label} pid {restarted.pid} ready: back "
                f"{time.monotonic() - exited_at:.1f} s after the exit"
            )
            running = restarted

    def first(self) -> Running:
        """The server already running, else one started now (a failure is not retried)."""
        found = self.server.running()
        if found is not None:
            self.say(f"watching {self.server.label} pid {found.pid} (already running)")
            return found
        began = time.monotonic()
        started = self.server.start()
        took = time.monotonic() - began
        self.say(f"started {self.server.label} pid {started.pid}, ready in {took:.1f} s")
        return started

    def stopped(self, exited: Running) -> None:
        label = self.server.label
        self.say(f"{label} pid {exited.pid} exited with code 0 (stopped on purpose): not restarted")
        self.server.clean_up(exited)

    def restart(self, exited: Running, status: int | None) -> Running | None:
        """The server started again after the back-off; None once the restarts are used up."""
        uptime = time.monotonic() - exited.since
        label = self.server.label
        self.say(f"{label} pid {exited.pid} {exit_cause(status)} after {uptime:.1f} s up")
        self.server.clean_up(exited)
        delay = self.policy.next_delay(uptime)
        while delay is not None:
            self.say(f"restart {self.policy.used} of {self.policy.tries} in {delay:g} s")
            time.sleep(delay)
            try:
                return self.server.start()
            except (LaunchError, OSError) as exc:
                self.say(f"restart {self.policy.used} failed: {exc}")
            delay = self.policy.next_delay(0.0)
        self.say(
            f"error: {label} failed {self.policy.tries} restarts in a row: giving up "
            "(`make run` starts it again)"
        )
        return None


def say(name: str, message: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    print(f"supervisor {name} {stamp}: {message}", flush=True)


def server_for(name: str, settings: StackSettings) -> Server:
    if name == "redis":
        return SupervisedRedis(settings)
    return SupervisedTriton(settings, settings.redis_url or settings.private_redis_url)


def supervise(name: str) -> int:
    settings = StackSettings.from_env()
    server = server_for(name, settings)
    policy = RestartPolicy.from_settings(settings)
    supervisor = Supervisor(name, server, policy, settings.supervisor_interval_s)
    with recorded(server.pid_file):
        return supervisor.run()


@contextlib.contextmanager
def recorded(pid_file: Path) -> Iterator[None]:
    """This process recorded as the supervisor of the server in ``pid_file`` while it runs;
    exit 2 when another live supervisor has it."""
    other = live_supervisor(pid_file)
    if other is not None and other != os.getpid():
        raise StackError(f"{pid_file.stem} is already supervised by pid {other}", 2)
    record = supervisor_pid_file(pid_file)
    write_pid_file(record, os.getpid())
    try:
        yield
    finally:
        if read_pid(record) == os.getpid():
            record.unlink(missing_ok=True)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)  # unwinds a start in progress, which stops the half-started server


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] not in ("redis", "triton"):
        print(USAGE, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        return supervise(args[0])
    except LaunchError as exc:
        say(args[0], f"error: {exc}")
        return exc.exit_code
    except OSError as exc:  # e.g. RUN_DIR not writable
        say(args[0], f"error: {exc}")
        return 1
    except SystemExit:  # SIGTERM
        say(args[0], "stopped (SIGTERM)")
        raise


if __name__ == "__main__":
    sys.exit(main())
