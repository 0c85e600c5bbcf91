"""The supervisor's loop over stand-in servers (real short-lived child processes, so that exit
codes and signals are real): restarts after a crash with the policy's back-off, the cause in
the log, gives up when the row is used up, leaves a server stopped on purpose alone; its own
PID record; its command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.stack import supervisor as supervisor_module
from deploy.stack.restart_policy import RestartPolicy
from deploy.stack.settings import REPO_ROOT, StackError
from deploy.stack.supervised import Running
from deploy.stack.supervisor import Supervisor, recorded
from deploy.triton.errors import StartError
from deploy.triton.procs import SUPERVISOR_MODULE, read_pid, supervisor_pid_file

EXIT_3 = "import sys; sys.exit(3)"
KILLED = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
STOPPED = "import sys; sys.exit(0)"


class StandIn:
    """A server whose starts run the given scripts in turn ("fail": the start fails)."""

    label = "stand-in"

    def __init__(self, pid_file: Path, scripts: list[str]) -> None:
        self.pid_file = pid_file
        self.scripts = scripts
        self.starts = 0
        self.cleaned: list[int] = []

    def start(self) -> Running:
        script = self.scripts[min(self.starts, len(self.scripts) - 1)]
        self.starts += 1
        if script == "fail":
            raise StartError("stand-in did not get ready")
        process = subprocess.Popen([sys.executable, "-c", script])
        return Running(process.pid, process)

    def running(self) -> Running | None:
        return None

    def clean_up(self, exited: Running) -> None:
        self.cleaned.append(exited.pid)


@pytest.fixture()
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The back-off waits the supervisor makes (not actually waited)."""
    waited: list[float] = []
    monkeypatch.setattr(supervisor_module.time, "sleep", waited.append)
    return waited


def supervise(
    tmp_path: Path, scripts: list[str], policy: RestartPolicy | None = None
) -> tuple[int, StandIn]:
    server = StandIn(tmp_path / "x.pid", scripts)
    supervisor = Supervisor("x", server, policy or RestartPolicy(), interval_s=0.01)
    return supervisor.run(), server


def test_a_crashing_server_is_restarted_with_back_off_then_given_up(
    tmp_path: Path, sleeps: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    status, server = supervise(tmp_path, [KILLED, EXIT_3])
    assert status == 1
    assert sleeps == [1, 2, 4, 8, 16]
    assert server.starts == 6 and len(server.cleaned) == 6  # the first start, 5 restarts
    log = capsys.readouterr().out
    assert "was killed by SIGKILL" in log and "exited with code 3" in log
    assert "restart 1 of 5 in 1 s" in log and "restart 5 of 5 in 16 s" in log
    last = log.strip().splitlines()[-1]
    assert last.startswith("supervisor x ") and "error: stand-in failed 5 restarts" in last


def test_a_restarted_server_that_stays_up_is_kept(
    tmp_path: Path, sleeps: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    status, server = supervise(tmp_path, [KILLED, STOPPED])
    assert status == 0 and server.starts == 2 and sleeps == [1]
    log = capsys.readouterr().out
    assert "ready: back" in log and "(stopped on purpose): not restarted" in log


def test_a_server_stopped_on_purpose_is_not_restarted(tmp_path: Path, sleeps: list[float]) -> None:
    status, server = supervise(tmp_path, [STOPPED])
    assert (status, server.starts, sleeps, len(server.cleaned)) == (0, 1, [], 1)


def test_failed_restarts_count_in_the_row(
    tmp_path: Path, sleeps: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    status, server = supervise(tmp_path, [EXIT_3, "fail"], RestartPolicy(tries=3))
    assert status == 1 and sleeps == [1, 2, 4] and server.starts == 4
    assert capsys.readouterr().out.count("failed: stand-in did not get ready") == 3


def test_a_failed_first_start_is_not_retried(tmp_path: Path, sleeps: list[float]) -> None:
    with pytest.raises(StartError):
        supervise(tmp_path, ["fail"])
    assert sleeps == []


def test_the_supervisor_records_itself_while_it_runs(tmp_path: Path) -> None:
    pid_file = tmp_path / "redis.pid"
    record = supervisor_pid_file(pid_file)
    assert record == tmp_path / "redis.supervisor.pid"
    record.write_text("999999999\n")  # stale: replaced
    with recorded(pid_file):
        assert read_pid(record) == os.getpid()
    assert not record.exists()


def test_a_second_supervisor_of_the_same_server_is_refused(
    tmp_path: Path, supervisor_lookalike: int
) -> None:
    other_supervisor = supervisor_lookalike
    pid_file = tmp_path / "redis.pid"
    supervisor_pid_file(pid_file).write_text(f"{other_supervisor}\n")
    refused = pytest.raises(StackError, match=f"already supervised by pid {other_supervisor}")
    with refused as error, recorded(pid_file):
        pass
    assert error.value.exit_code == 2
    assert read_pid(supervisor_pid_file(pid_file)) == other_supervisor


def run_supervisor(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", SUPERVISOR_MODULE, *args],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_usage_is_exit_2() -> None:
    result = run_supervisor(["gateway"], {})
    assert result.returncode == 2
    assert result.stderr.strip() == "usage: python -m deploy.stack.supervisor redis|triton"


def test_a_bad_setting_is_one_error_line_and_exit_2(tmp_path: Path) -> None:
    result = run_supervisor(
        ["redis"], {"RUN_DIR": str(tmp_path), "RECSYS_STACK_RESTART_TRIES": "none"}
    )
    assert result.returncode == 2 and result.stderr == ""
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and "error: RECSYS_STACK_RESTART_TRIES: " in lines[0]
    assert not supervisor_pid_file(tmp_path / "redis.pid").exists()
