"""Settings of `python -m deploy.stack`: every path, port, timeout and default in one place.

Read from the environment (pydantic 1 ``BaseSettings``, the Merlin environment's style): the
variables `make` passes (BUILD_DIR, MODEL_REPOSITORY, RUN_DIR, ROWS, DATA), REDIS_URL,
RECSYS_REDIS_PORT, TRITON_{HTTP,GRPC,METRICS}_PORT, GATEWAY_HOST, GATEWAY_PORT; the timeouts and
the supervisor's restart policy as RECSYS_STACK_<FIELD> (e.g. RECSYS_STACK_GATEWAY_READY_TIMEOUT_S,
RECSYS_STACK_RESTART_TRIES). An empty variable counts as
unset; a relative path is taken from the repository root. A bad value: `StackError`, exit 2,
one line naming the variable.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import PositiveFloat, PositiveInt, validator

from deploy.settings_base import (
    REPO_ROOT,
    BuildPaths,
    Port,
    RedisAddress,
    TritonPorts,
    from_repo_root,
)
from deploy.triton.errors import LaunchError

__all__ = ["GATEWAY_PYTHON", "MERLIN_PYTHON", "REPO_ROOT", "StackError", "StackSettings"]

MERLIN_PYTHON = Path(sys.executable)
GATEWAY_PYTHON = REPO_ROOT / ".venvs" / "gateway" / "bin" / "python"


class StackError(LaunchError):
    """A failing step or bad input: one ``error: ...`` line, exit 1 (or 2 for bad input)."""


class StackSettings(BuildPaths, RedisAddress, TritonPorts):
    """The shared variables (BUILD_DIR, MODEL_REPOSITORY, REDIS_URL, RECSYS_REDIS_PORT,
    TRITON_*_PORT) come from ``deploy.settings_base``'s mixins; the rest are the stack's own."""

    run_dir: Path = REPO_ROOT / "run"
    """PID files, logs, the private Redis's append-only file."""
    rows: PositiveInt = 100_000
    """Synthetic rows of a new build (when DATA is not set)."""
    data: Path | None = None
    gateway_host: str = "127.0.0.1"
    gateway_port: Port = Port(8080)
    redis_ping_timeout_s: PositiveFloat = 3.0
    """Connect timeout of the check that REDIS_URL answers."""
    redis_start_timeout_s: PositiveFloat = 10.0
    """How long a started redis-server may take to answer PING."""
    gateway_ready_timeout_s: PositiveFloat = 30.0
    """How long the gateway may take to answer /readyz."""
    probe_timeout_s: PositiveFloat = 2.0
    """Timeout of one readiness probe (Triton's /v2/health/ready, the gateway's /readyz)."""
    answer_timeout_s: PositiveFloat = 10.0
    """Timeout of the real request `run` ends with."""
    stop_timeout_s: PositiveFloat = 10.0
    """How long the gateway, redis-server and a supervisor get after SIGTERM before SIGKILL."""
    redis_appendfsync: Literal["always", "everysec"] = "always"
    """The private redis-server's AOF fsync: `always` writes and fsyncs a command before its
    reply, so an acknowledged write survives kill -9 (and a power loss); `everysec` may lose
    the last 1-2 s of acknowledged writes."""
    restart_tries: PositiveInt = 5
    """Restarts in a row a supervisor makes before it gives up (and exits)."""
    restart_first_delay_s: PositiveFloat = 1.0
    """The wait before the first restart; it doubles with each restart in a row."""
    restart_max_delay_s: PositiveFloat = 16.0
    """The longest wait before a restart."""
    restart_reset_after_s: PositiveFloat = 60.0
    """A server up this long before it exits starts a fresh row of restarts."""
    supervisor_interval_s: PositiveFloat = 0.2
    """Seconds between a supervisor's looks at a server it did not start itself (it learns at
    once of the exit of one it started)."""
    supervisor_stop_timeout_s: PositiveFloat = 20.0
    """How long `stop` gives a supervisor before SIGKILL: one caught restarting its server
    first stops the half-started server."""

    class Config:
        env_prefix = "RECSYS_STACK_"
        fields: ClassVar[dict[str, Any]] = {
            "run_dir": {"env": "RUN_DIR"},
            "rows": {"env": "ROWS"},
            "data": {"env": "DATA"},
            "gateway_host": {"env": "GATEWAY_HOST"},
            "gateway_port": {"env": "GATEWAY_PORT"},
        }

    @validator("run_dir")
    def _run_dir_from_repo_root(cls, value: Path) -> Path:
        return from_repo_root(value)

    @validator("data")
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @classmethod
    def invalid(cls, message: str) -> Exception:
        return StackError(message, 2)

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def as_env(self) -> dict[str, str | None]:
        """Each setting as the variable that sets it (None: unset), so that a process started
        with them reads the same settings back with ``from_env()``."""
        env: dict[str, str | None] = {}
        for name, field in self.__fields__.items():
            variable = sorted(field.field_info.extra["env_names"])[0].upper()
            value = getattr(self, name)
            env[variable] = None if value is None else str(value)
        return env
