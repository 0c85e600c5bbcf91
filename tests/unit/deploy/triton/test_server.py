"""TritonServer without starting it: the command line, the addresses, bad input (exit 2)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from deploy.triton.errors import ConfigError
from deploy.triton.server import TritonServer
from deploy.triton.settings import TritonSettings

SETTINGS = TritonSettings(host="127.0.0.1", http_port=18000, grpc_port=18001, metrics_port=18002)


def test_command_runs_explicit_model_control_with_every_model(tmp_path: Path) -> None:
    server = TritonServer(tmp_path, settings=SETTINGS, exit_timeout_s=7)
    command = server.command(Path("/bin/tritonserver"), tmp_path / "backends")
    assert command[0] == "/bin/tritonserver"
    assert "--model-control-mode=explicit" in command and "--load-model=*" in command
    assert "--exit-timeout-secs=7" in command and "--http-port=18000" in command


def test_own_model_control_flags_replace_the_defaults(tmp_path: Path) -> None:
    server = TritonServer(tmp_path, settings=SETTINGS, extra_args=["--model-control-mode=poll"])
    command = server.command(Path("tritonserver"), tmp_path)
    assert "--model-control-mode=poll" in command and "--load-model=*" not in command
    assert "--exit-timeout-secs=5" in command


def test_a_wildcard_bind_is_reached_over_loopback(tmp_path: Path) -> None:
    server = TritonServer(tmp_path, host="0.0.0.0", settings=SETTINGS)
    assert server.grpc_url == "127.0.0.1:18001"
    assert server.http_url == "http://127.0.0.1:18000"
    assert server.metrics_url == "http://127.0.0.1:18002/metrics"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"grpc_port": 18000}, "ports must differ"),
        ({"http_port": 0}, "http port: expected a port number 1-65535"),
    ],
)
def test_bad_ports_are_config_errors(tmp_path: Path, kwargs: dict[str, int], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        TritonServer(tmp_path, settings=SETTINGS, **kwargs).start()


def test_a_missing_repository_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        TritonServer(tmp_path / "nope", settings=SETTINGS).start()


def test_a_taken_port_is_found_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        server = TritonServer(tmp_path, settings=SETTINGS, metrics_port=port)
        with pytest.raises(ConfigError, match=f"metrics port 127.0.0.1:{port} is already in use"):
            server.start()
    assert server.process is None
