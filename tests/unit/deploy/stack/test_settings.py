"""StackSettings: the variables `make run` passes, in one typed object; bad values one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deploy.stack.settings import REPO_ROOT, StackError, StackSettings
from tests.unit.deploy.env_errors import bad_variable_error

NAMES = (
    "BUILD_DIR",
    "MODEL_REPOSITORY",
    "RUN_DIR",
    "ROWS",
    "DATA",
    "REDIS_URL",
    "RECSYS_REDIS_PORT",
    "TRITON_HTTP_PORT",
    "TRITON_GRPC_PORT",
    "TRITON_METRICS_PORT",
    "GATEWAY_HOST",
    "GATEWAY_PORT",
    "RECSYS_STACK_GATEWAY_READY_TIMEOUT_S",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    settings = StackSettings.from_env()
    assert settings.build_dir == REPO_ROOT / "artifacts"
    assert settings.run_dir == REPO_ROOT / "run"
    assert (settings.rows, settings.data, settings.redis_url) == (100_000, None, None)
    assert settings.redis_port == 6390 and settings.private_redis_url.endswith(":6390/0")
    assert settings.triton_ports == (8000, 8001, 8002)
    assert (settings.gateway_host, settings.gateway_port) == ("127.0.0.1", 8080)
    assert settings.pid_file("triton") == REPO_ROOT / "run" / "triton.pid"


def test_make_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BUILD_DIR", "some/build")  # relative: from the repository root
    monkeypatch.setenv("RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("ROWS", "4000")
    monkeypatch.setenv("DATA", "~/data")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6380/2")
    monkeypatch.setenv("RECSYS_REDIS_PORT", "6499")
    monkeypatch.setenv("TRITON_GRPC_PORT", "18001")
    monkeypatch.setenv("RECSYS_STACK_GATEWAY_READY_TIMEOUT_S", "90")
    settings = StackSettings.from_env()
    assert settings.build_dir == (REPO_ROOT / "some" / "build").resolve()
    assert settings.run_dir == (tmp_path / "run").resolve()
    assert (settings.rows, settings.redis_port) == (4000, 6499)
    assert settings.data == Path("~/data").expanduser()
    assert settings.redis_url == "redis://cache:6380/2"
    assert settings.triton_ports == (8000, 18001, 8002)
    assert settings.gateway_ready_timeout_s == 90.0


def test_empty_make_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BUILD_DIR", "ROWS", "DATA", "REDIS_URL"):
        monkeypatch.setenv(name, "")  # what `make` passes for a variable nobody set
    settings = StackSettings.from_env()
    assert settings.build_dir == REPO_ROOT / "artifacts"
    assert (settings.rows, settings.data, settings.redis_url) == (100_000, None, None)


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("ROWS", "many", "not a valid integer, got 'many'"),
        ("ROWS", "0", "greater than 0"),
        ("RECSYS_REDIS_PORT", "99999", "expected a port number 1-65535, got '99999'"),
        ("GATEWAY_PORT", "http", "expected a port number 1-65535, got 'http'"),
        ("RECSYS_STACK_GATEWAY_READY_TIMEOUT_S", "-1", "greater than 0"),
    ],
)
def test_bad_values_are_one_stack_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, words: str
) -> None:
    assert words in bad_variable_error(monkeypatch, StackSettings, StackError, name, value)


def test_cli_reports_a_bad_variable_on_one_line_with_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "deploy.stack", "stop"],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "RUN_DIR": str(tmp_path), "TRITON_HTTP_PORT": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: TRITON_HTTP_PORT: expected a port number 1-65535, got '0'"
    ]


def test_cli_usage_is_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "deploy.stack", "start"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "usage: python -m deploy.stack run|stop|triton"
