"""Locust load test of the gateway's GET /recommend (run it with `python -m loadtests.run`).

    locust -f loadtests/locustfile.py --headless --host http://127.0.0.1:8080 -u 16 -r 16 -t 60s \
        --user-ids artifacts/feature_repo/data/user_features.parquet [--unknown-share 0.05] [--k 10]
        [--step-users 2,4,8,16 --step-seconds 15] [--record-file requests.parquet]

Each simulated user sends requests back to back (no think time unless --think-ms): mostly users
the build knows (column `user_id` of `--user-ids`: a parquet file or a text file with one id a
line), and a share `--unknown-share` of ids the build does not know. Requests are named by case,
`/recommend [known]` and `/recommend [unknown]`, so Locust reports them apart. A request fails
unless it is a 200 whose body echoes the user, holds 1..k items, and has `fallback` false for a
known user and true for an unknown one.

`StepLoad` is the load shape: without --step-users it is Locust's usual constant load (-u users
at -r per second for -t); with --step-users 2,4,8 it runs each user count for --step-seconds and
then stops. With --record-file every request's completion time (seconds since the start of the
shape), response time, case, outcome and the running user count are written as a parquet table
when Locust quits: `loadtests/run.py` computes exact percentiles and the per-step figures from it.
Targets must be loopback addresses: any other --host is refused.
"""

from __future__ import annotations

import ipaddress
import random
import sys
import time
from array import array
from pathlib import Path
from typing import Any, ClassVar, NoReturn
from urllib.parse import urlsplit

from locust import FastHttpUser, LoadTestShape, events, task
from locust.env import Environment

KNOWN, UNKNOWN = "known", "unknown"
CASES = (KNOWN, UNKNOWN)
INT32_MAX = 2**31 - 1
# Unknown ids are drawn from here (the build's ids are far smaller), never one the build knows.
UNKNOWN_ID_RANGE = (1_900_000_000, INT32_MAX)


def is_loopback_url(url: str | None) -> bool:
    """True for http(s) URLs on 127.0.0.0/8, ::1 or localhost."""
    if not url:
        return False
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def read_user_ids(path: Path) -> list[int]:
    """Known user ids: column `user_id` of a parquet file, or a text file with one id a line."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        ids = pq.read_table(path, columns=["user_id"]).column("user_id").to_pylist()
    else:
        ids = [int(line) for line in path.read_text().split() if line.strip()]
    return [int(user) for user in ids if user is not None]


@events.init_command_line_parser.add_listener
def add_arguments(parser: Any) -> None:
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
        default=0.05,
        help="share of requests for user ids the build does not know (default 0.05)",
    )
    group.add_argument(
        "--k", env_var="LOADTEST_K", type=int, default=10, help="items asked for (default 10)"
    )
    group.add_argument(
        "--think-ms",
        env_var="LOADTEST_THINK_MS",
        type=float,
        default=0.0,
        help="pause of each user between its requests (default 0: back to back)",
    )
    group.add_argument(
        "--mix-seed", env_var="LOADTEST_SEED", type=int, default=0, help="seed of the user mix"
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
        default=15.0,
        help="duration of each step (default 15)",
    )
    group.add_argument(
        "--record-file",
        env_var="LOADTEST_RECORD_FILE",
        default="",
        help="write every request (time, response time, case, outcome, users) to this parquet",
    )


class Recorder:
    """Every request's figures in compact arrays, written once as parquet when Locust quits."""

    def __init__(self) -> None:
        self.seconds = array("d")
        self.response_ms = array("d")
        self.case = array("b")
        self.ok = array("b")
        self.users = array("i")

    def add(self, seconds: float, response_ms: float, case: int, ok: bool, users: int) -> None:
        self.seconds.append(seconds)
        self.response_ms.append(response_ms)
        self.case.append(case)
        self.ok.append(1 if ok else 0)
        self.users.append(users)

    def write(self, path: Path, start_unix: float) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(
            {
                "seconds": pa.array(self.seconds, pa.float64()),
                "response_ms": pa.array(self.response_ms, pa.float64()),
                "case": pa.array([CASES[index] for index in self.case], pa.string()),
                "ok": pa.array([bool(value) for value in self.ok], pa.bool_()),
                "users": pa.array(self.users, pa.int32()),
            }
        )
        # The wall-clock time of the shape's start lines these up with Locust's CSV history.
        table = table.replace_schema_metadata({"start_unix": repr(start_unix)})
        pq.write_table(table, path)


class Mix:
    """The known ids and the settings shared by all simulated users (set at init)."""

    known: ClassVar[list[int]] = []
    known_set: frozenset[int] = frozenset()
    unknown_share = 0.05
    k = 10
    think_s = 0.0
    seed = 0
    recorder: Recorder | None = None
    record_file: Path | None = None
    environment: Environment | None = None


def fail_setup(message: str) -> NoReturn:
    """Bad settings end Locust before any request, with one line."""
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(2)


@events.init.add_listener
def on_init(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None:  # used as a library without a command line: nothing to configure
        return
    if not is_loopback_url(environment.host):
        fail_setup(f"--host must be a loopback URL (127.0.0.1, ::1, localhost): {environment.host}")
    if not options.user_ids:
        fail_setup("--user-ids (or LOADTEST_USER_IDS) is required")
    path = Path(options.user_ids)
    try:
        known = read_user_ids(path)
    except (OSError, ValueError, KeyError) as exc:
        fail_setup(f"cannot read user ids from {path}: {exc}")
    if not known:
        fail_setup(f"no user ids in {path}")
    if not 0.0 <= options.unknown_share <= 1.0:
        fail_setup(f"--unknown-share must be within 0..1: {options.unknown_share}")
    if options.k < 1:
        fail_setup(f"--k must be at least 1: {options.k}")
    Mix.known = known
    Mix.known_set = frozenset(known)
    Mix.unknown_share = options.unknown_share
    Mix.k = options.k
    Mix.think_s = max(0.0, options.think_ms) / 1000
    Mix.seed = options.mix_seed
    Mix.environment = environment
    if options.record_file:
        Mix.recorder = Recorder()
        Mix.record_file = Path(options.record_file)


def run_seconds() -> float:
    """Seconds since the load shape started (0 before it did)."""
    environment = Mix.environment
    shape = environment.shape_class if environment is not None else None
    return shape.get_run_time() if shape is not None else 0.0


@events.request.add_listener
def on_request(name: str, response_time: float, exception: BaseException | None, **_: Any) -> None:
    if Mix.recorder is None:
        return
    case = 1 if name.endswith(f"[{UNKNOWN}]") else 0
    runner = Mix.environment.runner if Mix.environment is not None else None
    users = runner.user_count if runner is not None else 0
    Mix.recorder.add(run_seconds(), float(response_time), case, exception is None, users)


@events.quitting.add_listener
def on_quitting(**_: Any) -> None:
    if Mix.recorder is not None and Mix.record_file is not None:
        Mix.recorder.write(Mix.record_file, time.time() - run_seconds())


def check(body: Any, user: int, unknown: bool, k: int) -> str | None:
    """Why a 200 answer is wrong, or None when it is right."""
    if not isinstance(body, dict):
        return "body is not a JSON object"
    if body.get("user_id") != user:
        return f"user_id {body.get('user_id')!r} != {user}"
    items = body.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= k:
        return f"expected 1..{k} items, got {items!r:.80}"
    if body.get("fallback") is not unknown:
        return (
            f"fallback is {body.get('fallback')!r} for a{'n unknown' if unknown else ' known'} user"
        )
    return None


class RecommendUser(FastHttpUser):
    """One client asking for recommendations, back to back by default."""

    # The host comes from --host; a connection per user, as independent clients would have.
    _instances = 0

    def wait_time(self) -> float:  # type: ignore[override]
        return Mix.think_s

    def on_start(self) -> None:
        RecommendUser._instances += 1
        self.rng = random.Random(Mix.seed * 1_000_003 + RecommendUser._instances)

    def next_user(self) -> tuple[int, bool]:
        if self.rng.random() < Mix.unknown_share:
            for _ in range(100):  # bounded: the build's ids are far below this range
                user = self.rng.randint(*UNKNOWN_ID_RANGE)
                if user not in Mix.known_set:
                    return user, True
        return self.rng.choice(Mix.known), False

    @task
    def recommend(self) -> None:
        user, unknown = self.next_user()
        name = f"/recommend [{UNKNOWN if unknown else KNOWN}]"
        with self.client.get(
            "/recommend", params={"user_id": user, "k": Mix.k}, name=name, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            try:
                body = response.json()
            except ValueError:
                response.failure("body is not JSON")
                return
            problem = check(body, user, unknown, Mix.k)
            if problem:
                response.failure(problem)


class StepLoad(LoadTestShape):
    """Constant load from -u/-r/-t, or with --step-users each user count for --step-seconds."""

    use_common_options = True

    def steps(self) -> list[int]:
        options = self.runner.environment.parsed_options if self.runner else None
        text = getattr(options, "step_users", "") or ""
        return [int(part) for part in text.split(",") if part.strip()]

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options if self.runner else None
        if options is None:
            return None
        run_time = self.get_run_time()
        steps = self.steps()
        if steps:
            index = int(run_time // options.step_seconds)
            if index >= len(steps):
                return None
            return steps[index], float(options.spawn_rate or steps[index])
        if options.run_time and run_time >= options.run_time:
            return None
        return int(options.num_users or 1), float(options.spawn_rate or 1)
