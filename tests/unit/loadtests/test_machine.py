"""loadtests/machine.py: what a measurement ran on."""

from __future__ import annotations

from collections import namedtuple

import pytest

from loadtests.machine import busy_cores, git_commit, machine
from tests.conftest import REPO_ROOT

Times = namedtuple("Times", ["user", "system", "idle", "iowait"])


def test_machine_names_cpu_cores_and_asked_package_versions() -> None:
    info = machine("pytest", "no-such-package")
    assert info["cores"] >= 1 and info["cpu"] and info["python"]
    assert info["pytest"] and "no-such-package" not in info


def test_git_commit_of_this_repository() -> None:
    commit = git_commit(REPO_ROOT)
    assert len(commit["commit"]) == 40 and isinstance(commit["dirty"], bool)


def test_busy_cores_from_two_readings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("loadtests.machine.os.cpu_count", lambda: 2)
    before, after = Times(10, 10, 70, 10), Times(40, 20, 90, 10)  # 40 busy of 60
    assert busy_cores(before, after) == round(40 / 60 * 2, 2)
    assert busy_cores(None, after) is None and busy_cores(after, after) is None
