"""Fixtures shared by the launcher's and the supervisor's tests."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from deploy.triton.procs import SUPERVISOR_MODULE, is_supervisor


@pytest.fixture()
def supervisor_lookalike() -> Iterator[int]:
    """The PID of a process the launcher takes for a supervisor (its command line names the
    module), once its command line says so: between fork and exec a fresh child still shows
    its parent's command line, and on a busy machine that gap is long enough to be seen."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", SUPERVISOR_MODULE]
    )
    try:
        deadline = time.monotonic() + 10
        while not is_supervisor(process.pid):
            assert time.monotonic() < deadline, "the look-alike never showed its command line"
            time.sleep(0.01)
        yield process.pid
    finally:
        process.kill()
        process.wait()
