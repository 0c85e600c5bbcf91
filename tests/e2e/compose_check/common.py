"""What every check shares: the paths and names, the context, running a command."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.cpu.yml")
PROJECT = "recsys-compose-test"
LONG_RUNNING = ("redis", "triton", "gateway")
OFFICIAL_BASES = {"PYTHON_BASE_IMAGE": "python:3.11-slim", "REDIS_IMAGE": "redis:7.2-alpine"}
HOST_PORTS = (
    "GATEWAY_HOST_PORT",
    "TRITON_HTTP_HOST_PORT",
    "TRITON_GRPC_HOST_PORT",
    "TRITON_METRICS_HOST_PORT",
)
K = 10
UNKNOWN_USER = 2_000_000_000


class CheckFailed(Exception):
    """A check's finding, printed on its FAIL line."""


class EnvironmentMissing(Exception):
    """Something needed is absent and cannot be installed here (exit 2)."""


@dataclass
class Context:
    compose: list[str]
    env: dict[str, str]
    deadline: float
    results_dir: Path
    rows: int
    gateway: str = ""
    users: list[int] = field(default_factory=list)
    catalogue: set[int] = field(default_factory=set)
    excluded: tuple[int, int] | None = None  # (user, item) recorded through the gateway
    images: dict[str, str] = field(default_factory=dict)
    trainer_started: str = ""  # the trainer container's State.StartedAt after `up`
    figures: dict[str, str] = field(default_factory=dict)

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise CheckFailed("the test's overall time limit is used up")
        return left


def run(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float,
    check: bool = True,
    quiet: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure raise CheckFailed with the tail of its output."""
    try:
        done = subprocess.run(
            list(args),
            cwd=ROOT,
            env=dict(env) if env is not None else None,
            stdout=subprocess.PIPE if quiet else None,
            stderr=subprocess.STDOUT if quiet else None,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"`{' '.join(args[:4])} ...` did not finish in {timeout:.0f} s") from None
    if check and done.returncode != 0:
        tail = "\n    ".join((done.stdout or "").strip().splitlines()[-15:])
        raise CheckFailed(f"`{' '.join(args)}` exited {done.returncode}:\n    {tail}")
    return done


def compose(ctx: Context, *args: str, timeout: float = 600.0, check: bool = True) -> str:
    limit = min(timeout, ctx.remaining())
    return run([*ctx.compose, *args], env=ctx.env, timeout=limit, check=check).stdout or ""
