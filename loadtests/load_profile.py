"""Settings of the Locust process: what each simulated user asks for, and the step schedule.

One frozen dataclass, `LoadProfile`. Locust reads its options (`add_locust_options`: each has a
LOADTEST_* environment variable, the command line wins) and `from_options` turns them into the
profile; the runner (loadtests/run.py) builds the same profile and passes it on with
`locust_arguments`, so both sides share one set of defaults and checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtests.errors import InputError
from loadtests.step_schedule import parse_steps

DEFAULT_UNKNOWN_SHARE = 0.05
DEFAULT_K = 10
DEFAULT_THINK_MS = 0.0
DEFAULT_SEED = 0
DEFAULT_STEP_SECONDS = 15.0


@dataclass(frozen=True)
class LoadProfile:
    user_ids: Path
    """Known user ids: parquet with column user_id, or text with one id a line."""
    unknown_share: float = DEFAULT_UNKNOWN_SHARE
    k: int = DEFAULT_K
    think_ms: float = DEFAULT_THINK_MS
    seed: int = DEFAULT_SEED
    step_users: tuple[int, ...] = ()
    """Empty: Locust's constant load (-u, -r, -t)."""
    step_seconds: float = DEFAULT_STEP_SECONDS
    record_file: Path | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.unknown_share <= 1.0:
            raise InputError(f"--unknown-share must be within 0..1: {self.unknown_share}")
        if self.k < 1:
            raise InputError(f"--k must be at least 1: {self.k}")
        if self.think_ms < 0:
            raise InputError(f"--think-ms must not be negative: {self.think_ms}")
        if self.step_users and not self.step_seconds > 0:
            raise InputError(f"--step-seconds must be positive: {self.step_seconds}")

    @classmethod
    def from_options(cls, options: Any) -> LoadProfile:
        """From Locust's parsed options (declared by `add_locust_options`)."""
        if not options.user_ids:
            raise InputError("--user-ids (or LOADTEST_USER_IDS) is required")
        text = options.step_users or ""
        return cls(
            user_ids=Path(options.user_ids),
            unknown_share=options.unknown_share,
            k=options.k,
            think_ms=options.think_ms,
            seed=options.mix_seed,
            step_users=parse_steps(text, "--step-users") if text.strip() else (),
            step_seconds=options.step_seconds,
            record_file=Path(options.record_file) if options.record_file else None,
        )

    def locust_arguments(self) -> list[str]:
        """The locustfile's options that give this profile."""
        arguments = [
            *("--user-ids", str(self.user_ids)),
            *("--unknown-share", f"{self.unknown_share:g}"),
            *("--k", str(self.k)),
            *("--think-ms", f"{self.think_ms:g}"),
            *("--mix-seed", str(self.seed)),
        ]
        if self.record_file is not None:
            arguments += ["--record-file", str(self.record_file)]
        if self.step_users:
            arguments += ["--step-users", ",".join(map(str, self.step_users))]
            arguments += ["--step-seconds", f"{self.step_seconds:g}"]
        return arguments


def add_locust_options(parser: Any) -> None:
    """Declares the profile's options on Locust's command-line parser (configargparse)."""
    group = parser.add_argument_group("recommend load test (loadtests/locustfile.py)")
    group.add_argument(
        "--user-ids",
        env_var="LOADTEST_USER_IDS",
        default="",
        help="known user ids: parquet with column user_id, or text with one id a line",
    )
    group.add_argument(
        "--unknown-share",
        env_var="LOADTEST_UNKNOWN_SHARE",
        type=float,
        default=DEFAULT_UNKNOWN_SHARE,
        help="share of requests for user ids the build does not know"
        f" (default {DEFAULT_UNKNOWN_SHARE})",
    )
    group.add_argument(
        "--k",
        env_var="LOADTEST_K",
        type=int,
        default=DEFAULT_K,
        help=f"items asked for (default {DEFAULT_K})",
    )
    group.add_argument(
        "--think-ms",
        env_var="LOADTEST_THINK_MS",
        type=float,
        default=DEFAULT_THINK_MS,
        help="pause of each user between its requests (default 0: back to back)",
    )
    group.add_argument(
        "--mix-seed",
        env_var="LOADTEST_SEED",
        type=int,
        default=DEFAULT_SEED,
        help="seed of the user mix",
    )
    group.add_argument(
        "--step-users",
        env_var="LOADTEST_STEP_USERS",
        default="",
        help="step load: comma-separated user counts, each run for --step-seconds",
    )
    group.add_argument(
        "--step-seconds",
        env_var="LOADTEST_STEP_SECONDS",
        type=float,
        default=DEFAULT_STEP_SECONDS,
        help=f"duration of each step (default {DEFAULT_STEP_SECONDS:g})",
    )
    group.add_argument(
        "--record-file",
        env_var="LOADTEST_RECORD_FILE",
        default="",
        help="write every request (time, response time, case, outcome, users) to this parquet",
    )
