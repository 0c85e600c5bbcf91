"""procs: PID files and process groups, against real processes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from deploy.triton.procs import (
    group_members,
    process_alive,
    read_pid,
    terminate_group,
    write_pid_file,
)


def test_pid_file_round_trip_and_bad_contents(tmp_path: Path) -> None:
    pid_file = tmp_path / "run" / "x.pid"
    write_pid_file(pid_file, 4242)
    assert read_pid(pid_file) == 4242 and pid_file.read_text() == "4242\n"
    for text in ("", "1", "abc", "-5"):
        pid_file.write_text(text)
        assert read_pid(pid_file) is None
    assert read_pid(tmp_path / "missing.pid") is None


def test_terminate_group_stops_a_session_and_reports_gone_after() -> None:
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    assert process_alive(process.pid) and group_members(process.pid) == [process.pid]
    assert terminate_group(process.pid, timeout=5.0, process=process) == "terminated"
    assert not process_alive(process.pid)
    assert terminate_group(process.pid, timeout=5.0) == "gone"
    assert process_alive(os.getpid())
