"""Locust load test of the gateway's GET /recommend (run it with `python -m loadtests.run`).

    locust -f loadtests/locustfile.py --headless --host http://127.0.0.1:8080 -u 16 -r 16 -t 60s \
        --user-ids artifacts/feature_repo/data/user_features.parquet [--unknown-share 0.05] [--k 10]
        [--step-users 2,4,8,16 --step-seconds 15] [--record-file requests.parquet]

Run from the repository root (Locust puts the working directory on the import path, and the
helpers are the `loadtests` package). Each simulated user sends requests back to back (no think
time unless --think-ms): mostly users the build knows (column `user_id` of `--user-ids`: a parquet
file or a text file with one id a line), and a share `--unknown-share` of ids the build does not
know. Requests are named by case, `/recommend [known]` and `/recommend [unknown]`, so Locust
reports them apart. A request fails unless it is a 200 whose body echoes the user, holds 1..k
items, and has `fallback` false for a known user and true for an unknown one.

`StepLoad` is the load shape: without --step-users it is Locust's usual constant load (-u users
at -r per second for -t); with --step-users 2,4,8 it runs each user count for --step-seconds and
then stops. With --record-file every request's completion time (seconds since the start of the
shape), response time, case, outcome and the running user count are written as a parquet table
when Locust quits: `loadtests/run.py` computes exact percentiles and the per-step figures from it.
Targets must be loopback addresses: any other --host is refused. The options and their LOADTEST_*
variables: loadtests/load_profile.py.
"""

from __future__ import annotations

import gc
import sys
import time
from dataclasses import dataclass
from typing import Any, NoReturn

from locust import FastHttpUser, LoadTestShape, events, task
from locust.env import Environment

from loadtests.errors import InputError
from loadtests.load_profile import LoadProfile, add_locust_options
from loadtests.loopback import is_loopback_url
from loadtests.request_record import Recorder
from loadtests.step_schedule import shape_tick
from loadtests.user_mix import UserMix, case_code, check_answer, request_name, user_rng
from loadtests.user_table import read_user_ids


@dataclass
class LoadState:
    """Set once at init, shared by all simulated users."""

    profile: LoadProfile | None = None
    mix: UserMix | None = None
    recorder: Recorder | None = None
    environment: Environment | None = None


STATE = LoadState()


def fail_setup(message: str) -> NoReturn:
    """Bad settings end Locust before any request, with one line (exit status 2)."""
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(2)


events.init_command_line_parser.add_listener(add_locust_options)


@events.init.add_listener  # type: ignore[misc]  # Locust's add_listener is unannotated
def on_init(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None:  # used as a library without a command line: nothing to configure
        return
    if not is_loopback_url(environment.host):
        fail_setup(f"--host must be a loopback URL (127.0.0.1, ::1, localhost): {environment.host}")
    try:
        profile = LoadProfile.from_options(options)
    except InputError as exc:
        fail_setup(str(exc))
    try:
        known = read_user_ids(profile.user_ids)
    except (OSError, ValueError, KeyError) as exc:
        fail_setup(f"cannot read user ids from {profile.user_ids}: {exc}")
    if not known:
        fail_setup(f"no user ids in {profile.user_ids}")
    STATE.profile = profile
    STATE.mix = UserMix(known, profile.unknown_share)
    STATE.environment = environment
    if profile.record_file is not None:
        STATE.recorder = Recorder()
    # Locust's own full collections (tens of ms over its startup heap) would stall every user
    # at once and be measured as the server's latency: keep the startup heap out of them
    gc.collect()
    gc.freeze()


def run_seconds() -> float:
    """Seconds since the load shape started (0 before it did)."""
    environment = STATE.environment
    shape = environment.shape_class if environment is not None else None
    return float(shape.get_run_time()) if shape is not None else 0.0


@events.request.add_listener  # type: ignore[misc]  # Locust's add_listener is unannotated
def on_request(name: str, response_time: float, exception: BaseException | None, **_: Any) -> None:
    if STATE.recorder is None:
        return
    runner = STATE.environment.runner if STATE.environment is not None else None
    users = runner.user_count if runner is not None else 0
    ok = exception is None
    STATE.recorder.add(run_seconds(), float(response_time), case_code(name), ok, users)


@events.quitting.add_listener  # type: ignore[misc]  # Locust's add_listener is unannotated
def on_quitting(**_: Any) -> None:
    profile = STATE.profile
    if STATE.recorder is not None and profile is not None and profile.record_file is not None:
        STATE.recorder.write(profile.record_file, time.time() - run_seconds())


class RecommendUser(FastHttpUser):
    """One client asking for recommendations, back to back by default."""

    # The host comes from --host; a connection per user, as independent clients would have.
    _instances = 0

    # Locust types wait_time as a Callable[[User], float] attribute; a method is its documented form
    def wait_time(self) -> float:  # type: ignore[override]
        return STATE.profile.think_ms / 1000 if STATE.profile is not None else 0.0

    def on_start(self) -> None:
        RecommendUser._instances += 1
        seed = STATE.profile.seed if STATE.profile is not None else 0
        self.rng = user_rng(seed, RecommendUser._instances)

    @task
    def recommend(self) -> None:
        if STATE.mix is None or STATE.profile is None:
            return
        user, unknown = STATE.mix.next_user(self.rng)
        k = STATE.profile.k
        with self.client.get(
            "/recommend",
            params={"user_id": user, "k": k},
            name=request_name(unknown),
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            try:
                body = response.json()
            except ValueError:
                response.failure("body is not JSON")
                return
            problem = check_answer(body, user, unknown, k)
            if problem:
                response.failure(problem)


class StepLoad(LoadTestShape):
    """Constant load from -u/-r/-t, or with --step-users each user count for --step-seconds."""

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options if self.runner else None
        profile = STATE.profile
        if options is None or profile is None:
            return None
        return shape_tick(
            # unannotated in Locust; untyped_calls_exclude misses calls through a subclass
            self.get_run_time(),  # type: ignore[no-untyped-call]
            profile.step_users,
            profile.step_seconds,
            options.num_users,
            options.spawn_rate,
            options.run_time,
        )
