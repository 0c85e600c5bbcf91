"""`python -m deploy.rollout`: bad input or an unreachable Triton is one line, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from deploy.triton.repository_api import with_versions
from deploy.triton.watchdog import Stub, is_ready
from tests.conftest import REPO_ROOT, free_port


def rollout(tmp_path: Path, command: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("BUILD_DIR", "REDIS_URL")}
    base.update({"MODEL_REPOSITORY": str(tmp_path / "repo"), "TRITON_HTTP_PORT": str(free_port())})
    return subprocess.run(
        [sys.executable, "-m", "deploy.rollout", command],
        cwd=REPO_ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_without_a_build_is_one_line_exit_2(tmp_path: Path) -> None:
    result = rollout(tmp_path, "deploy", BUILD_DIR=str(tmp_path / "nothing"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: BUILD_DIR "), result.stderr


def test_rollback_without_triton_is_one_line_exit_1(tmp_path: Path) -> None:
    result = rollout(tmp_path, "rollback")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach Triton"), result.stderr


def test_a_bad_setting_and_a_bad_command_are_refused(tmp_path: Path) -> None:
    bad = rollout(tmp_path, "rollback", RECSYS_ROLLOUT_KEEP_BUILDS="0")
    assert bad.returncode == 2 and "RECSYS_ROLLOUT_KEEP_BUILDS" in bad.stderr
    assert rollout(tmp_path, "sideways").returncode == 2


def test_the_load_config_names_exactly_the_versions() -> None:
    config = {"name": "m", "version_policy": {"latest": {"num_versions": 1}}, "x": 1}
    assert with_versions(config, [3, 2]) == {
        "name": "m",
        "version_policy": {"specific": {"versions": [2, 3]}},
        "x": 1,
    }


def test_the_watchdog_reloads_only_for_a_ready_version() -> None:
    """A version being unloaded by a rollout (not READY) loses its stubs on purpose."""
    ready = {("executor_model", "2")}
    assert is_ready(ready, Stub(1, "executor_model", "i", True, "2"))
    assert not is_ready(ready, Stub(1, "executor_model", "i", True, "1"))
    assert is_ready(ready, Stub(1, "executor_model", "", True, ""))  # version unknown
