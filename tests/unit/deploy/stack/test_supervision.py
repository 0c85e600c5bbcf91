"""The launcher's side of a supervised server: beside a live supervisor it never starts another
one (nor a server), it waits until the server the supervisor records is ready; a supervisor
that gives up is one error line, its own."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from deploy.stack import supervision
from deploy.stack.settings import StackError, StackSettings
from deploy.stack.supervision import ensure_supervised, supervisor_log
from deploy.triton.procs import (
    process_alive,
    supervisor_pid_file,
    write_pid_file,
)


@pytest.fixture()
def settings(tmp_path: Path) -> StackSettings:
    return StackSettings(run_dir=tmp_path)


@pytest.fixture()
def live_supervisor(settings: StackSettings, supervisor_lookalike: int) -> int:
    write_pid_file(supervisor_pid_file(settings.pid_file("redis")), supervisor_lookalike)
    return supervisor_lookalike


@pytest.fixture()
def no_new_supervisor(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("a second supervisor was started")

    monkeypatch.setattr(supervision, "start_supervisor", refuse)


@pytest.mark.usefixtures("no_new_supervisor")
def test_a_live_supervisor_and_its_ready_server_are_left_alone(
    settings: StackSettings, live_supervisor: int
) -> None:
    write_pid_file(settings.pid_file("redis"), live_supervisor)  # any live process will do
    how = ensure_supervised("redis", settings, ready=lambda pid: True, timeout_s=5.0)
    assert how == "already running"


@pytest.mark.usefixtures("no_new_supervisor")
def test_a_server_being_restarted_is_waited_for_not_started_again(
    settings: StackSettings, live_supervisor: int
) -> None:
    # the server crashed: no record while its supervisor restarts it, then its new PID
    threading.Timer(0.5, write_pid_file, (settings.pid_file("redis"), live_supervisor)).start()
    how = ensure_supervised("redis", settings, ready=lambda pid: True, timeout_s=5.0)
    assert how == "restarted by its supervisor"


@pytest.mark.usefixtures("no_new_supervisor")
def test_a_restart_that_takes_too_long_is_one_line_and_the_supervisor_is_kept(
    settings: StackSettings, live_supervisor: int
) -> None:
    with pytest.raises(StackError) as error:
        ensure_supervised("redis", settings, ready=lambda pid: True, timeout_s=0.3)
    assert str(error.value) == (
        f"redis-server not ready after 0.3 s; its supervisor (pid {live_supervisor}) is still "
        f"at it: see {supervisor_log(settings)}"
    )
    assert process_alive(live_supervisor)


def test_a_supervisor_that_gives_up_is_its_own_error_line(
    settings: StackSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    supervisor_log(settings).write_text("supervisor triton 2026-12-06 10:00:00: error: old\n")
    line = "supervisor redis 2026-12-06 10:00:01: error: redis-server exited with code 1"

    def failing(name: str, settings: StackSettings, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with supervisor_log(settings).open("a") as log:
            log.write("supervisor triton 2026-12-06 10:00:01: restart 1 of 5 in 1 s\n")
            log.write(line + "\n")
        return subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])

    monkeypatch.setattr(supervision, "start_supervisor", failing)
    with pytest.raises(StackError) as error:
        ensure_supervised("redis", settings, ready=lambda pid: True, timeout_s=5.0)
    assert str(error.value) == "redis-server exited with code 1"
    assert not settings.pid_file("redis").exists()


def test_settings_reach_the_supervisor_through_its_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DATA", raising=False)
    settings = StackSettings(run_dir=tmp_path, redis_port=6499, restart_tries=2)
    env = settings.as_env()
    monkeypatch.setenv("DATA", "/somewhere")  # in the launcher's environment, not its settings
    assert env["RUN_DIR"] == str(tmp_path) and env["RECSYS_REDIS_PORT"] == "6499"
    assert env["RECSYS_STACK_RESTART_TRIES"] == "2" and env["DATA"] is None
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert StackSettings.from_env() == settings
