"""Settings of the runner (`python -m loadtests.run`): one frozen dataclass from its command line.

The load-test environment has no pydantic (requirements/loadtest.lock.txt), so this is a frozen
dataclass checked in `__post_init__`, built by `RunSettings.from_args`. What the simulated users
do is the Locust process's own settings object, `LoadProfile`, held here as `profile`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from loadtests import load_profile as defaults
from loadtests.errors import InputError
from loadtests.load_profile import LoadProfile
from loadtests.loopback import is_loopback_host
from loadtests.result_files import FILES
from loadtests.step_schedule import MAX_USERS, parse_steps
from loadtests.user_table import USER_TABLE

REPO_ROOT = Path(__file__).resolve().parent.parent
MERLIN_PYTHON = REPO_ROOT / ".venvs" / "merlin" / "bin" / "python"
DESCRIPTION = "Run the Locust load test against the running gateway and write a results directory."
MAX_SECONDS = 3600
"""Bound: every run ends by itself."""


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """Every option of the runner; the defaults live in `parser()`."""

    build: Path
    host: str
    """Gateway base URL, without a trailing slash."""
    out: Path
    profile: LoadProfile
    users: int
    spawn_rate: float
    duration: int
    step_load: bool
    step_warmup: float
    slo_ms: float
    triton_url: str | None
    triton_requests: int
    triton_duration: int
    model_repository: Path
    merlin_python: Path
    """Interpreter for bench_triton (the Merlin environment)."""

    def __post_init__(self) -> None:
        if not 1 <= self.users <= MAX_USERS:
            raise InputError(f"--users must be within 1..{MAX_USERS}: {self.users}")
        if not self.spawn_rate > 0:
            raise InputError(f"--spawn-rate must be positive: {self.spawn_rate}")
        if not 1 <= self.duration <= MAX_SECONDS:
            raise InputError(f"--duration must be within 1..{MAX_SECONDS} seconds: {self.duration}")
        if not self.slo_ms > 0:
            raise InputError(f"--slo-ms must be positive: {self.slo_ms}")
        if self.step_load:
            self._check_steps()
        check_gateway_url(self.host)
        if self.triton_url is not None:
            triton_address(self.triton_url)

    def _check_steps(self) -> None:
        step_seconds = self.profile.step_seconds
        if not 1 <= step_seconds <= 600:
            raise InputError(f"--step-seconds must be within 1..600: {step_seconds:g}")
        if not 0 <= self.step_warmup < step_seconds:
            raise InputError(
                f"--step-warmup must be within 0..--step-seconds ({step_seconds:g}): "
                f"{self.step_warmup:g}"
            )
        if self.seconds > MAX_SECONDS:
            raise InputError(f"a step load longer than {MAX_SECONDS} s: {self.steps_text}")

    @property
    def steps(self) -> tuple[int, ...]:
        """The step load's user counts; empty for a constant load."""
        return self.profile.step_users

    @property
    def steps_text(self) -> str:
        return ",".join(map(str, self.steps))

    @property
    def mode(self) -> str:
        return "step" if self.steps else "constant"

    @property
    def seconds(self) -> float:
        """How long the load runs."""
        return len(self.steps) * self.profile.step_seconds if self.steps else float(self.duration)

    @property
    def triton(self) -> tuple[str, int] | None:
        return triton_address(self.triton_url) if self.triton_url is not None else None

    @classmethod
    def from_args(cls, argv: list[str] | None = None) -> RunSettings:
        """Parses the command line; bad values raise InputError (argparse's own errors exit 2)."""
        args = parser().parse_args(argv)
        profile = LoadProfile(
            user_ids=args.build / USER_TABLE,
            unknown_share=args.unknown_share,
            k=args.k,
            think_ms=args.think_ms,
            seed=args.seed,
            step_users=parse_steps(args.steps, "--steps") if args.step_load else (),
            step_seconds=args.step_seconds,
            record_file=args.out / FILES["requests"],
        )
        return cls(
            build=args.build,
            host=args.host.rstrip("/"),
            out=args.out,
            profile=profile,
            users=args.users,
            spawn_rate=args.spawn_rate,
            duration=args.duration,
            step_load=args.step_load,
            step_warmup=args.step_warmup,
            slo_ms=args.slo_ms,
            triton_url=args.triton_url,
            triton_requests=args.triton_requests,
            triton_duration=args.triton_duration,
            model_repository=args.model_repository,
            merlin_python=args.merlin_python,
        )


def check_gateway_url(host: str) -> None:
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"--host must be an http URL such as http://127.0.0.1:8080: {host!r}")
    if not is_loopback_host(parts.hostname):
        raise InputError(f"--host must be on this machine (127.0.0.1, ::1, localhost): {host}")


def triton_address(url: str) -> tuple[str, int]:
    """--triton-url as (host, port) on this machine."""
    parts = urlsplit(url if "://" in url else f"grpc://{url}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise InputError(f"--triton-url must be host:port such as 127.0.0.1:8001: {url!r}")
    if not is_loopback_host(host):
        raise InputError(f"--triton-url must be on this machine (127.0.0.1, ::1): {url}")
    return host, port


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Bad arguments: one `error: ...` line (no usage text), exit status 2."""
        self.exit(2, f"error: {message} (see --help)\n")


def parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m loadtests.run",
        description=DESCRIPTION,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--build", type=Path, required=True, help="build directory (artifacts)")
    add("--host", default="http://127.0.0.1:8080", help="gateway base URL")
    add("--out", type=Path, required=True, help="results directory (new or empty)")
    add("--users", type=int, default=16, help="concurrent users (constant load)")
    add("--spawn-rate", type=float, default=16.0, help="users started per second")
    add("--duration", type=int, default=60, help="seconds (constant load)")
    add(
        "--unknown-share",
        type=float,
        default=defaults.DEFAULT_UNKNOWN_SHARE,
        help="share of unknown ids",
    )
    add("--k", type=int, default=defaults.DEFAULT_K, help="items asked for per request")
    add("--think-ms", type=float, default=defaults.DEFAULT_THINK_MS, help="pause between requests")
    add("--seed", type=int, default=defaults.DEFAULT_SEED, help="seed of the user mix")
    step = parser.add_argument_group("step load").add_argument
    step("--step-load", action="store_true", help="raise the users step by step")
    step("--steps", default="2,4,8,16,32,64", help="user counts, one per step")
    step(
        "--step-seconds",
        type=float,
        default=defaults.DEFAULT_STEP_SECONDS,
        help="duration of each step",
    )
    step(
        "--step-warmup",
        type=float,
        default=2.0,
        help="seconds left out at the start of each step, once its users all run",
    )
    step("--slo-ms", type=float, default=50.0, help="p99 latency objective")
    bench = parser.add_argument_group("direct gRPC comparison (loadtests/bench_triton.py)")
    bench.add_argument("--triton-url", help="Triton gRPC host:port: also run bench_triton after")
    bench.add_argument("--triton-requests", type=int, default=1000, help="sequential requests")
    bench.add_argument(
        "--triton-duration", type=int, default=20, help="seconds with --users threads"
    )
    bench.add_argument(
        "--model-repository",
        type=Path,
        default=REPO_ROOT / "model_repository",
        help="for bench_triton's in-process stage timings",
    )
    bench.add_argument(
        "--merlin-python", type=Path, default=MERLIN_PYTHON, help="interpreter for bench_triton"
    )
    return parser
