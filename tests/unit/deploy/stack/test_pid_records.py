"""The launcher's PID records: a started process is recorded only once it is ready (on failure
it is stopped and nothing is recorded); a live gateway is kept, even while /readyz says 503,
never doubled; `stop` says what it did. Real processes; the gateway is a stand-in
(fake_gateway.py)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.stack import services
from deploy.stack.orchestrate import stop
from deploy.stack.services import ensure_gateway
from deploy.stack.settings import StackError, StackSettings
from deploy.stack.steps import start_recorded
from deploy.triton.procs import process_alive, read_pid, terminate_group, write_pid_file
from tests.conftest import free_port

FAKE_GATEWAY = Path(__file__).with_name("fake_gateway.py")


def start(tmp_path: Path, script: str, ready_file: Path, timeout_s: float = 10.0) -> int:
    return start_recorded(
        [sys.executable, "-c", script],
        env={"PATH": "/usr/bin:/bin"},
        log_file=tmp_path / "x.log",
        pid_file=tmp_path / "x.pid",
        ready=ready_file.exists,
        timeout_s=timeout_s,
        stop_timeout_s=5.0,
        label="x",
    )


def test_a_process_is_recorded_once_ready(tmp_path: Path) -> None:
    flag = tmp_path / "ready"
    pid = start(
        tmp_path,
        f"import pathlib, time; pathlib.Path({str(flag)!r}).touch(); " "time.sleep(60)",
        flag,
    )
    try:
        assert read_pid(tmp_path / "x.pid") == pid and process_alive(pid)
    finally:
        terminate_group(pid, timeout=5.0)


def test_a_process_that_exits_before_ready_is_not_recorded(tmp_path: Path) -> None:
    with pytest.raises(StackError) as error:
        start(tmp_path, "import sys; sys.exit(1)  # e.g. its port is taken", tmp_path / "ready")
    assert str(error.value) == (
        f"x exited with code 1 before it was ready; see {tmp_path / 'x.log'}"
    )
    assert not (tmp_path / "x.pid").exists()


def test_a_process_not_ready_in_time_is_stopped_and_not_recorded(tmp_path: Path) -> None:
    script = "import os, time; print(os.getpid(), flush=True); time.sleep(60)"
    with pytest.raises(StackError, match=r"x was not ready after 0\.5 s \(stopped\)"):
        start(tmp_path, script, tmp_path / "ready", timeout_s=0.5)
    assert not process_alive(int((tmp_path / "x.log").read_text().split()[0]))
    assert not (tmp_path / "x.pid").exists()


@pytest.fixture()
def settings(tmp_path: Path) -> StackSettings:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    return StackSettings(run_dir=run_dir, gateway_port=free_port(), gateway_ready_timeout_s=5.0)


class FakeGateways:
    """Stand-in gateways on the settings' port; /readyz is 200 once `ready` exists."""

    def __init__(self, settings: StackSettings, tmp_path: Path) -> None:
        self.settings = settings
        self.ready = tmp_path / "ready"
        self.pids: list[int] = []

    def command(self) -> list[str]:
        port = str(self.settings.gateway_port)
        return [sys.executable, str(FAKE_GATEWAY), "services.gateway", port, str(self.ready)]

    def start_live(self) -> int:
        """One already running and recorded, as a previous `run` left it."""
        process = subprocess.Popen(self.command(), start_new_session=True)
        self.pids.append(process.pid)
        while not port_taken(self.settings.gateway_port):
            assert process.poll() is None
        write_pid_file(self.settings.pid_file("gateway"), process.pid)
        return process.pid

    def stop(self) -> None:
        for pid in self.pids:
            terminate_group(pid, timeout=5.0)


def port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture()
def gateways(settings: StackSettings, tmp_path: Path) -> Iterator[FakeGateways]:
    fakes = FakeGateways(settings, tmp_path)
    try:
        yield fakes
    finally:
        fakes.stop()


@pytest.fixture()
def started(monkeypatch: pytest.MonkeyPatch, gateways: FakeGateways) -> list[int]:
    """The PIDs of the gateways `ensure_gateway` starts (stand-ins)."""
    pids: list[int] = []
    start = services.start_recorded

    def start_and_track(*args: Any, **kwargs: Any) -> int:
        pid = start(*args, **kwargs)
        pids.append(pid)
        gateways.pids.append(pid)
        return pid

    monkeypatch.setattr(services, "GATEWAY_PYTHON", Path(sys.executable))
    monkeypatch.setattr(services, "gateway_command", gateways.command)
    monkeypatch.setattr(services, "start_recorded", start_and_track)
    return pids


def ensure(settings: StackSettings) -> str:
    return ensure_gateway(settings, "127.0.0.1:1", "redis://127.0.0.1:1/0")


def test_a_live_gateway_not_ready_is_kept_and_waited_for(
    settings: StackSettings,
    gateways: FakeGateways,
    started: list[int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    pid = gateways.start_live()  # /readyz 503: Triton behind it is down
    threading.Timer(1.0, gateways.ready.touch).start()  # ... and back a second later
    assert ensure(settings) == f"http://127.0.0.1:{settings.gateway_port}"
    assert started == []  # no second gateway
    assert read_pid(settings.pid_file("gateway")) == pid and process_alive(pid)
    out = capsys.readouterr().out
    assert "alive but not ready (/readyz): waiting for it" in out
    assert f"(already running, pid {pid})" in out


def test_a_live_gateway_that_never_gets_ready_is_kept_with_one_error_line(
    settings: StackSettings, gateways: FakeGateways, started: list[int]
) -> None:
    pid = gateways.start_live()
    with pytest.raises(StackError, match=f"the gateway \\(pid {pid}\\) runs but is not ready"):
        ensure(settings)
    assert started == []
    assert read_pid(settings.pid_file("gateway")) == pid and process_alive(pid)


def test_a_port_held_by_an_unrecorded_process_is_not_doubled(
    settings: StackSettings, gateways: FakeGateways, started: list[int]
) -> None:
    gateways.start_live()
    settings.pid_file("gateway").write_text("999999999\n")  # the record names a dead process
    with pytest.raises(StackError, match="is taken by a process .*gateway.pid does not name"):
        ensure(settings)
    assert started == [] and not settings.pid_file("gateway").exists()


def test_a_stale_record_is_replaced_by_a_gateway_recorded_once_ready(
    settings: StackSettings, gateways: FakeGateways, started: list[int]
) -> None:
    settings.pid_file("gateway").write_text("999999999\n")
    gateways.ready.touch()
    ensure(settings)
    assert len(started) == 1
    assert read_pid(settings.pid_file("gateway")) == started[0] and process_alive(started[0])


def test_a_gateway_that_fails_to_start_leaves_no_record(
    settings: StackSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "GATEWAY_PYTHON", Path(sys.executable))
    monkeypatch.setattr(
        services, "gateway_command", lambda: [sys.executable, "-c", "raise SystemExit(1)"]
    )
    with pytest.raises(StackError, match="the gateway exited with code 1 before it was ready"):
        ensure(settings)
    assert not settings.pid_file("gateway").exists()


def test_stop_tells_a_stale_record_from_a_stopped_process(
    settings: StackSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    bystander = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        settings.pid_file("gateway").write_text(f"{bystander.pid}\n")  # a reused PID
        settings.pid_file("redis").write_text("999999999\n")
        stop(settings)
        assert bystander.poll() is None  # not a gateway: left alone
    finally:
        bystander.kill()
        bystander.wait()
    out = capsys.readouterr().out
    assert f"gateway: pid {bystander.pid} was not running; removed its stale PID file" in out
    assert "redis: pid 999999999 was not running" in out and "stopped gateway" not in out
    assert not settings.pid_file("gateway").exists() and not settings.pid_file("redis").exists()
