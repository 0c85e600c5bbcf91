"""Settings of the Triton launcher and its watchdog: every address, timeout and default.

Read from the environment (pydantic 1 ``BaseSettings``, the style of the Merlin environment,
which pins pydantic < 2): field -> ``TRITON_<FIELD>``, e.g. ``TRITON_HTTP_PORT``. An empty
variable counts as unset. A bad value is a ``ConfigError`` naming the variable, on one line.
``EnvSettings`` is that style, shared with ``deploy.stack.settings``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseSettings, NonNegativeInt, PositiveFloat, ValidationError
from pydantic.env_settings import SettingsSourceCallable

from deploy.triton.errors import ConfigError

SettingsT = TypeVar("SettingsT", bound="EnvSettings")


def check_port(value: object) -> int:
    """A TCP port 1-65535 from an int or a string; ValueError (one line) otherwise."""
    try:
        port = int(str(value))
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise ValueError(f"expected a port number 1-65535, got {value!r}")
    return port


class Port(int):
    """A TCP port 1-65535; a bad value's error says so and shows the value."""

    @classmethod
    def __get_validators__(cls) -> Iterator[Callable[[object], int]]:
        yield check_port


def without_empty(source: SettingsSourceCallable) -> SettingsSourceCallable:
    """An environment source where ``NAME=`` (as make passes an unset variable) means unset."""

    def read(settings: BaseSettings) -> dict[str, Any]:
        return {key: value for key, value in source(settings).items() if value != ""}

    return read


class EnvSettings(BaseSettings):
    """The launchers' settings style: frozen, ``NAME=`` is unset, and ``from_env()`` turns a bad
    value into one line naming the variable (raised as ``invalid(message)``)."""

    class Config:
        allow_mutation = False

        @classmethod
        def customise_sources(
            cls,
            init_settings: SettingsSourceCallable,
            env_settings: SettingsSourceCallable,
            file_secret_settings: SettingsSourceCallable,
        ) -> tuple[SettingsSourceCallable, ...]:
            return init_settings, without_empty(env_settings)

    @classmethod
    def invalid(cls, message: str) -> Exception:
        return ConfigError(message)

    @classmethod
    def from_env(cls: type[SettingsT]) -> SettingsT:
        """The settings from the environment; a bad value raises ``invalid(message)``."""
        try:
            return cls()
        except ValidationError as exc:
            raise cls.invalid("; ".join(_problems(cls, exc))) from None


def _problems(cls: type[BaseSettings], exc: ValidationError) -> list[str]:
    """One ``VARIABLE: what is wrong, got 'value'`` per bad value."""
    problems = []
    for problem in exc.errors():
        field = cls.__fields__.get(str(problem["loc"][0]))
        names = sorted(field.field_info.extra.get("env_names", ())) if field else []
        name = names[0].upper() if names else ".".join(map(str, problem["loc"]))
        message = problem["msg"]
        if "got " not in message and name in os.environ:
            message += f", got {os.environ[name]!r}"
        problems.append(f"{name}: {message}")
    return problems


class TritonSettings(EnvSettings):
    """Bind address, ports and timeouts of one tritonserver (env ``TRITON_*``)."""

    host: str = "127.0.0.1"
    """HTTP, gRPC and metrics bind address; 0.0.0.0 exposes them."""
    http_port: Port = Port(8000)
    grpc_port: Port = Port(8001)
    metrics_port: Port = Port(8002)
    ready_timeout_s: PositiveFloat = 120.0
    """How long `start` waits for /v2/health/ready (every model loaded)."""
    stop_timeout_s: PositiveFloat = 30.0
    """How long `stop` waits after SIGTERM before SIGKILL."""
    exit_timeout_s: NonNegativeInt = 5
    """Triton's own shutdown wait (--exit-timeout-secs, Triton's default 30): after a stub died,
    the dead instance's model version never finishes unloading and shutdown waits all of it."""
    probe_timeout_s: PositiveFloat = 1.0
    """Timeout of one readiness probe (GET /v2/health/ready)."""
    watchdog_interval_s: PositiveFloat = 0.5
    """Seconds between the watchdog's looks at the stub processes."""
    watchdog_load_timeout_s: PositiveFloat = 300.0
    """How long the watchdog waits for one model reload."""
    watchdog_stop_timeout_s: PositiveFloat = 5.0
    """How long stopping the watchdog may take before SIGKILL."""
    supervisor_stop_timeout_s: PositiveFloat = 20.0
    """How long `stop` gives the server's supervisor (`make run`'s) before SIGKILL: one caught
    restarting the server first stops the half-started server (up to 10 s)."""
    failed_start_stop_timeout_s: PositiveFloat = 10.0
    """How long a server that failed to get ready gets to stop before SIGKILL."""

    class Config:
        env_prefix = "TRITON_"


def default_run_dir(http_port: int) -> Path:
    """Backends, log and PID file of a server started without --run-dir."""
    return Path(tempfile.gettempdir()) / f"triton-{os.getuid()}-{http_port}"
