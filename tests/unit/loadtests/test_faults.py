"""loadtests/faults.py: a killed server must come back by itself, and the answer of the killed
process itself never counts."""

from __future__ import annotations

import subprocess
import sys
import time

from loadtests.faults import _back_by_itself


def test_a_server_back_by_itself_is_timed_from_the_kill() -> None:
    calls = iter([False, False, True])
    back_s = _back_by_itself(2**22 + 7, lambda: next(calls), time.monotonic() + 5)
    assert back_s is not None and 0.15 <= back_s < 1.0  # two misses, 0.1 s apart


def test_a_server_not_back_by_the_deadline_is_none() -> None:
    began = time.monotonic()
    assert _back_by_itself(2**22 + 7, lambda: False, began + 0.3) is None
    assert 0.3 <= time.monotonic() - began < 1.0


def test_the_killed_process_still_running_is_not_an_answer() -> None:
    dying = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    try:
        back_s = _back_by_itself(dying.pid, lambda: True, time.monotonic() + 5)
    finally:
        dying.wait()
    assert back_s is not None and back_s >= 0.4
