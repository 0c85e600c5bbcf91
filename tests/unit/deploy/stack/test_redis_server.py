"""The private Redis's command line (durable, in the foreground under its supervisor) and the
one-line error when there is no Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.stack.redis_server import redis_command, running_redis_url
from deploy.stack.settings import StackError, StackSettings


@pytest.fixture()
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StackSettings:
    monkeypatch.delenv("REDIS_URL", raising=False)
    return StackSettings(run_dir=tmp_path / "run", redis_port=6499)


def test_redis_is_private_and_durable(settings: StackSettings, tmp_path: Path) -> None:
    command = redis_command(settings, "redis-server", tmp_path / "data")
    pairs = dict(zip(command[1::2], command[2::2], strict=True))
    assert pairs["--port"] == "6499" and pairs["--bind"] == "127.0.0.1"
    # an acknowledged write is on disk before its reply: it survives kill -9
    assert pairs["--appendonly"] == "yes" and pairs["--appendfsync"] == "always"
    assert pairs["--maxmemory-policy"] == "noeviction"
    assert pairs["--dir"] == str(tmp_path / "data")
    # in the foreground, a child of its supervisor (which records the PID once it answers)
    assert pairs["--daemonize"] == "no" and "--pidfile" not in pairs


def test_appendfsync_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_STACK_REDIS_APPENDFSYNC", "everysec")
    command = redis_command(StackSettings.from_env(), "redis-server", tmp_path)
    assert command[command.index("--appendfsync") + 1] == "everysec"


def test_no_redis_url_and_no_running_redis_is_exit_2(settings: StackSettings) -> None:
    with pytest.raises(StackError, match="no Redis to serve from") as error:
        running_redis_url(settings)
    assert error.value.exit_code == 2 and "\n" not in str(error.value)


def test_a_redis_url_that_does_not_answer_is_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    settings = StackSettings.from_env()
    with pytest.raises(
        StackError, match="REDIS_URL=redis://127.0.0.1:1/0 does not answer"
    ) as error:
        running_redis_url(settings)
    assert error.value.exit_code == 2
