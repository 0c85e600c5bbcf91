"""The launchers' settings style and the variables several launchers read, each declared once.

Neutral ground for `deploy.triton`, `deploy.stack` and `deploy.rollout` (pydantic 1
``BaseSettings``, the Merlin environment's style, which pins pydantic < 2):

* ``EnvSettings``: frozen; ``NAME=`` (as make passes an unset variable) counts as unset; and
  ``from_env()`` turns a bad value into one line naming the variable, raised as
  ``invalid(message)`` (each launcher's own error type).
* ``Port``: a TCP port 1-65535 whose error shows the bad value.
* The shared variables, one mixin each group, inherited by the launchers that read them (the
  variable name and its default live here only): ``BuildPaths`` (BUILD_DIR,
  MODEL_REPOSITORY), ``RedisAddress`` (REDIS_URL, RECSYS_REDIS_PORT) and ``TritonPorts``
  (TRITON_HTTP_PORT, TRITON_GRPC_PORT, TRITON_METRICS_PORT, whose defaults ``TritonSettings``
  reads too).

The serving graph's `services/ensemble/settings.py` and the gateway's `core/config.py` are
other processes' settings (services never import deploy/); REDIS_URL here is the launchers'
"an existing Redis to use", unset by default, unlike the model's `EnsembleSettings.redis_url`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseSettings, Field, ValidationError, validator
from pydantic.env_settings import SettingsSourceCallable

REPO_ROOT = Path(__file__).resolve().parents[1]
SettingsT = TypeVar("SettingsT", bound="EnvSettings")


class InvalidSettings(ValueError):
    """A bad variable (``EnvSettings.invalid``'s default; launchers raise their own type)."""


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
        return InvalidSettings(message)

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


def from_repo_root(path: Path) -> Path:
    """A path as given (``~`` expanded), relative ones taken from the repository root."""
    return (REPO_ROOT / path.expanduser()).resolve()


class BuildPaths(EnvSettings):
    """BUILD_DIR and MODEL_REPOSITORY (`make`'s variables; relative: from the repository root)."""

    build_dir: Path = Field(REPO_ROOT / "artifacts", env="BUILD_DIR")
    """A build (`python -m training build`'s output)."""
    model_repository: Path = Field(REPO_ROOT / "model_repository", env="MODEL_REPOSITORY")
    """The Triton model repository the export writes and Triton serves."""

    @validator("build_dir", "model_repository")
    def _paths_from_repo_root(cls, value: Path) -> Path:
        return from_repo_root(value)


REDIS_PORT = Port(6390)
"""The private redis-server of `make run` (not 6379: a Redis already on the machine keeps it)."""


class RedisAddress(EnvSettings):
    """REDIS_URL (an existing Redis) and RECSYS_REDIS_PORT (`make run`'s private one)."""

    redis_url: str | None = Field(None, env="REDIS_URL")
    """An existing Redis to use; unset: the private redis-server on `redis_port`."""
    redis_port: Port = Field(REDIS_PORT, env="RECSYS_REDIS_PORT")

    @property
    def private_redis_url(self) -> str:
        """The private redis-server's address (when REDIS_URL is not set)."""
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def online_store(self) -> str:
        """REDIS_URL, or the private redis-server's address."""
        return self.redis_url or self.private_redis_url


TRITON_HTTP_PORT = Port(8000)
TRITON_GRPC_PORT = Port(8001)
TRITON_METRICS_PORT = Port(8002)


class TritonPorts(EnvSettings):
    """TRITON_HTTP_PORT, TRITON_GRPC_PORT, TRITON_METRICS_PORT: the ports of the local
    tritonserver (the ones `TritonSettings` binds)."""

    triton_http_port: Port = Field(TRITON_HTTP_PORT, env="TRITON_HTTP_PORT")
    triton_grpc_port: Port = Field(TRITON_GRPC_PORT, env="TRITON_GRPC_PORT")
    triton_metrics_port: Port = Field(TRITON_METRICS_PORT, env="TRITON_METRICS_PORT")

    @property
    def triton_ports(self) -> tuple[int, int, int]:
        return self.triton_http_port, self.triton_grpc_port, self.triton_metrics_port
