"""TritonSettings: TRITON_* parsed into one typed object; a bad value is one line, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deploy.triton.errors import ConfigError
from deploy.triton.settings import TritonSettings, check_port, default_run_dir
from tests.unit.deploy.env_errors import bad_variable_error

REPO_ROOT = Path(__file__).resolve().parents[4]
NAMES = ("HOST", "HTTP_PORT", "GRPC_PORT", "METRICS_PORT", "READY_TIMEOUT_S", "EXIT_TIMEOUT_S")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        monkeypatch.delenv(f"TRITON_{name}", raising=False)


def test_defaults() -> None:
    settings = TritonSettings.from_env()
    assert settings.host == "127.0.0.1"
    assert (settings.http_port, settings.grpc_port, settings.metrics_port) == (8000, 8001, 8002)
    assert (settings.ready_timeout_s, settings.stop_timeout_s, settings.exit_timeout_s) == (
        120.0,
        30.0,
        5,
    )


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITON_HOST", "0.0.0.0")
    monkeypatch.setenv("TRITON_HTTP_PORT", "18000")
    monkeypatch.setenv("TRITON_READY_TIMEOUT_S", "7.5")
    monkeypatch.setenv("TRITON_EXIT_TIMEOUT_S", "0")
    settings = TritonSettings.from_env()
    assert (settings.host, settings.http_port, settings.ready_timeout_s) == ("0.0.0.0", 18000, 7.5)
    assert settings.exit_timeout_s == 0


def test_empty_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITON_HOST", "")
    monkeypatch.setenv("TRITON_GRPC_PORT", "")
    settings = TritonSettings.from_env()
    assert (settings.host, settings.grpc_port) == ("127.0.0.1", 8001)


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("TRITON_HTTP_PORT", "abc", "expected a port number 1-65535, got 'abc'"),
        ("TRITON_GRPC_PORT", "70000", "expected a port number 1-65535, got '70000'"),
        ("TRITON_READY_TIMEOUT_S", "0", "greater than 0"),
        ("TRITON_EXIT_TIMEOUT_S", "-1", "greater than or equal to 0"),
        ("TRITON_STOP_TIMEOUT_S", "soon", "not a valid float, got 'soon'"),
    ],
)
def test_bad_values_are_one_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, words: str
) -> None:
    assert words in bad_variable_error(monkeypatch, TritonSettings, ConfigError, name, value)


def test_settings_are_frozen() -> None:
    settings = TritonSettings.from_env()
    with pytest.raises(TypeError):
        settings.http_port = 1  # type: ignore[misc]


@pytest.mark.parametrize(("value", "port"), [("1", 1), (65535, 65535), ("8000", 8000)])
def test_check_port_accepts(value: object, port: int) -> None:
    assert check_port(value) == port


@pytest.mark.parametrize("value", ["0", "65536", "x", "", -3])
def test_check_port_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="expected a port number 1-65535"):
        check_port(value)


def test_default_run_dir_names_the_port() -> None:
    assert default_run_dir(18000).name.endswith("-18000")


def test_cli_reports_a_bad_variable_on_one_line_with_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "deploy.triton.launch", "stop", "--pid-file", "/nonexistent.pid"],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "TRITON_METRICS_PORT": "x"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: TRITON_METRICS_PORT: expected a port number 1-65535, got 'x'"
    ]
