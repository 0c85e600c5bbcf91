"""`make run`'s supervisors on real servers, started the way the launcher starts them (private
directories, free ports): redis-server and tritonserver come back by themselves after kill -9
(Redis within 5 s with every acknowledged write, Triton within 30 s under load; the real
executor after its load time); after a Triton kill the launcher keeps the one live gateway;
`stop` leaves nothing behind.

Run with a --basetemp of your own when other pytest sessions share the machine: pytest keeps
only the last three /tmp/pytest-of-USER/pytest-N directories, and another session's cleanup
would delete this test's RUN_DIR and model repository under the running servers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from deploy.stack import (
    StackError,
    StackSettings,
    ensure_gateway,
    ensure_redis,
    ensure_triton,
    read_pid,
    run,
)
from deploy.stack import stop as stop_stack
from deploy.stack.orchestrate import first_user as user_of
from deploy.stack.supervision import supervisor_log
from deploy.triton.procs import command_line, process_alive, supervisor_pid_file
from services.ensemble.contract import online_interactions_key
from tests.conftest import REPO_ROOT, free_port
from tests.integration import add_one

REDIS_BACK_S = 5.0
TRITON_BACK_S = 30.0
EXECUTOR_LOAD_S = 180.0
"""How long the real executor may take to load (5-11 s idle; 25-100 s on a busy machine)."""


def stack_settings(run_dir: Path, **fields: object) -> StackSettings:
    """Private Redis (never a REDIS_URL of the test run), free ports, RUN_DIR of the test."""
    return StackSettings(
        run_dir=run_dir,
        redis_url=None,
        redis_port=free_port(),
        triton_http_port=free_port(),
        triton_grpc_port=free_port(),
        triton_metrics_port=free_port(),
        gateway_port=free_port(),
        **fields,
    )


def recorded_pids(settings: StackSettings) -> dict[str, int]:
    names = [*(f"{n}.supervisor" for n in ("redis", "triton")), "redis", "triton", "gateway"]
    names.append("triton.watchdog")
    pids = {name: read_pid(settings.run_dir / f"{name}.pid") for name in names}
    return {name: pid for name, pid in pids.items() if pid is not None}


def stop_and_check_nothing_is_left(settings: StackSettings, seen: dict[str, int]) -> None:
    stop_stack(settings)
    alive = {name: pid for name, pid in seen.items() if process_alive(pid)}
    assert not alive, alive
    assert not list(settings.run_dir.glob("*.pid"))
    left = [pid for pid in all_pids() if str(settings.run_dir) in " ".join(command_line(pid))]
    assert not left, [command_line(pid) for pid in left]


def all_pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def wait_for(check: Callable[[], bool], timeout_s: float) -> float:
    """Seconds until ``check()`` is true; AssertionError after ``timeout_s``."""
    began = time.monotonic()
    while not check():
        assert time.monotonic() - began < timeout_s, f"not within {timeout_s} s"
        time.sleep(0.05)
    return time.monotonic() - began


# -- redis-server ------------------------------------------------------------------------------


@pytest.fixture()
def redis_stack(tmp_path: Path) -> Iterator[StackSettings]:
    settings = stack_settings(tmp_path / "run")
    seen: dict[str, int] = {}
    try:
        ensure_redis(settings)
        seen.update(recorded_pids(settings))
        yield settings
    finally:
        seen.update(recorded_pids(settings))
        stop_and_check_nothing_is_left(settings, seen)


def answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_a_killed_redis_is_back_within_5_s_with_every_acknowledged_write(
    redis_stack: StackSettings,
) -> None:
    settings = redis_stack
    client = redis.Redis.from_url(settings.private_redis_url, socket_timeout=1.0)
    old = read_pid(settings.pid_file("redis"))
    assert old is not None
    acknowledged: list[int] = []
    for item in range(200):  # each acknowledged (SADD returned), the last just before the kill
        client.sadd(online_interactions_key(7), item)
        acknowledged.append(item)
    os.kill(old, signal.SIGKILL)
    killed = time.monotonic()

    back_s = wait_for(lambda: answers(client), REDIS_BACK_S)
    print(f"\nredis-server back {time.monotonic() - killed:.2f} s after kill -9")

    members = {int(m) for m in client.smembers(online_interactions_key(7))}
    assert members == set(acknowledged)
    assert back_s < REDIS_BACK_S
    # recorded right after it answered PING
    wait_for(lambda: read_pid(settings.pid_file("redis")) not in (None, old), 1.0)
    new = read_pid(settings.pid_file("redis"))
    assert new is not None and process_alive(new)
    log = supervisor_log(settings).read_text()
    assert f"redis-server pid {old} was killed by SIGKILL" in log
    assert f"redis-server pid {new} ready: back" in log
    # `run` again: the supervised Redis is taken as is
    assert ensure_redis(settings) == settings.private_redis_url
    assert read_pid(settings.pid_file("redis")) == new


def test_a_redis_that_cannot_start_leaves_no_record(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path / "run")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", settings.redis_port))
        taken.listen()
        with pytest.raises(StackError) as error:
            ensure_redis(settings)
    assert str(error.value) == (
        f"127.0.0.1:{settings.redis_port} is taken by another process: stop it or set "
        "RECSYS_REDIS_PORT"
    )
    assert not settings.pid_file("redis").exists()
    assert not supervisor_pid_file(settings.pid_file("redis")).exists()


# -- tritonserver and the gateway --------------------------------------------------------------


@pytest.fixture()
def small_triton(tmp_path: Path) -> Iterator[StackSettings]:
    """tritonserver under its supervisor, as `run` starts it, serving a model that loads in
    about 2 s (so that its restart time is the supervisor's, not a model's load)."""
    repository = add_one.make_repository(tmp_path / "repository")
    settings = stack_settings(tmp_path / "run", model_repository=repository)
    seen: dict[str, int] = {}
    try:
        ensure_triton(settings, settings.private_redis_url)  # the model does not use it
        seen.update(recorded_pids(settings))
        yield settings
    finally:
        seen.update(recorded_pids(settings))
        stop_and_check_nothing_is_left(settings, seen)


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, build_dir: Path, model_repository: Path
) -> Iterator[StackSettings]:
    """The whole stack as `run` brings it up, on the session build and its export. The gateway
    step may wait for a whole executor load (25-100 s on a busy 2-core machine)."""
    run_dir = tmp_path_factory.mktemp("stack") / "run"
    settings = stack_settings(
        run_dir,
        build_dir=build_dir,
        model_repository=model_repository,
        gateway_ready_timeout_s=EXECUTOR_LOAD_S,
    )
    seen: dict[str, int] = {}
    try:
        run(settings)
        seen.update(recorded_pids(settings))
        yield settings
    finally:
        seen.update(recorded_pids(settings))
        stop_and_check_nothing_is_left(settings, seen)


def status_of(url: str, body: bytes | None = None) -> int:
    try:
        with urllib.request.urlopen(url, data=body, timeout=5.0) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@dataclass
class Load:
    """One closed-loop client: (sent, answered, status) of every request (status 0: none)."""

    url: str
    body: bytes | None = None
    answers: list[tuple[float, float, int]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.done.is_set():
            sent = time.monotonic()
            status = status_of(self.url, self.body)
            self.answers.append((sent, time.monotonic(), status))

    def first_ok_after(self, moment: float) -> float | None:
        """When the first request sent after ``moment`` to get a 200 got it."""
        return next(
            (end for sent, end, status in self.answers if sent > moment and status == 200), None
        )

    def statuses(
        self, sent_before: float | None = None, sent_after: float | None = None
    ) -> set[int]:
        return {
            status
            for sent, _, status in self.answers
            if (sent_before is None or sent < sent_before)
            and (sent_after is None or sent > sent_after)
        }

    @contextlib.contextmanager
    def running(self) -> Iterator[Load]:
        client = threading.Thread(target=self.run, daemon=True)
        client.start()
        try:
            yield self
        finally:
            self.done.set()
            client.join(timeout=10)


def gateway_url(settings: StackSettings) -> str:
    return f"http://{settings.gateway_host}:{settings.gateway_port}"


def triton_ready(settings: StackSettings) -> bool:
    return status_of(f"http://127.0.0.1:{settings.triton_http_port}/v2/health/ready") == 200


def kill_triton(settings: StackSettings) -> tuple[int, float]:
    pid = read_pid(settings.pid_file("triton"))
    assert pid is not None and process_alive(pid)
    os.kill(pid, signal.SIGKILL)
    return pid, time.monotonic()


def gateways_on(port: int) -> list[int]:
    """Live gateway processes serving ``port`` (by their command line and environment)."""
    found = []
    for pid in all_pids():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if "services.gateway" in command_line(pid) and f"GATEWAY_PORT={port}".encode() in environ:
            found.append(pid)
    return [pid for pid in found if process_alive(pid)]


def test_a_killed_tritonserver_answers_again_within_30_s_under_load(
    small_triton: StackSettings,
) -> None:
    settings = small_triton
    infer = f"http://127.0.0.1:{settings.triton_http_port}/v2/models/add_one/infer"
    with Load(infer, add_one.REQUEST).running() as load:
        time.sleep(1.0)
        old, killed = kill_triton(settings)
        wait_for(lambda: load.first_ok_after(killed) is not None, TRITON_BACK_S)
    first_ok = load.first_ok_after(killed)
    assert first_ok is not None
    print(f"\ntritonserver answered again {first_ok - killed:.1f} s after kill -9")
    assert load.statuses(sent_before=killed - 0.5) == {200}
    assert first_ok - killed < TRITON_BACK_S
    # the server may answer before the supervisor's own readiness poll logs it: wait for that
    wait_for(lambda: "ready: back" in supervisor_log(settings).read_text(), 5.0)
    new = read_pid(settings.pid_file("triton"))
    assert new is not None and new != old and triton_ready(settings)
    log = supervisor_log(settings).read_text()
    assert f"tritonserver pid {old} was killed by SIGKILL" in log
    assert "restart 1 of 5 in 1 s" in log and f"tritonserver pid {new} ready: back" in log
    # the new server has a watchdog of its own (the old one went with its server)
    watchdog = read_pid(settings.run_dir / "triton.watchdog.pid")
    assert watchdog is not None and f"--server-pid={new}" in command_line(watchdog)


def test_the_executor_comes_back_under_load_through_the_gateway(stack: StackSettings) -> None:
    """The real model: back after its own load time (the figure printed), by itself."""
    wait_for(lambda: triton_ready(stack), EXECUTOR_LOAD_S)
    user = first_user(stack)
    with Load(f"{gateway_url(stack)}/recommend?user_id={user}&k=5").running() as load:
        time.sleep(2.0)
        _, killed = kill_triton(stack)
        ready_s = wait_for(lambda: triton_ready(stack), EXECUTOR_LOAD_S)
        wait_for(lambda: load.first_ok_after(killed) is not None, EXECUTOR_LOAD_S)
    first_ok = load.first_ok_after(killed)
    assert first_ok is not None
    statuses = sorted(load.statuses(sent_after=killed))
    print(
        f"\nexecutor: tritonserver ready {ready_s:.1f} s after kill -9, the gateway answered 200 "
        f"{first_ok - killed:.1f} s after it; {len(load.answers)} requests, statuses {statuses}"
    )


def test_the_launcher_after_a_triton_kill_keeps_the_one_live_gateway(
    stack: StackSettings,
) -> None:
    wait_for(lambda: triton_ready(stack), EXECUTOR_LOAD_S)
    gateway = read_pid(stack.pid_file("gateway"))
    assert gateway is not None and gateways_on(stack.gateway_port) == [gateway]

    # the gateway step while Triton is down: /healthz answers, /readyz says 503
    kill_triton(stack)
    wait_for(lambda: status_of(f"{gateway_url(stack)}/readyz") == 503, 5.0)
    assert status_of(f"{gateway_url(stack)}/healthz") == 200
    assert ensure_gateway(stack, "unused", "unused") == gateway_url(stack)
    assert read_pid(stack.pid_file("gateway")) == gateway
    assert gateways_on(stack.gateway_port) == [gateway]

    # the probe: kill -9 tritonserver, wait 10 s, `make run`
    kill_triton(stack)
    time.sleep(10.0)
    again = launcher_run(stack)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert f"gateway: {gateway_url(stack)} (already running, pid {gateway})" in again.stdout
    assert read_pid(stack.pid_file("gateway")) == gateway
    assert gateways_on(stack.gateway_port) == [gateway]
    assert "address already in use" not in (stack.run_dir / "gateway.log").read_text().lower()


def launcher_run(settings: StackSettings) -> subprocess.CompletedProcess[str]:
    """`make run`'s command with these settings."""
    env = {**os.environ, **settings.as_env()}
    return subprocess.run(
        [sys.executable, "-m", "deploy.stack", "run"],
        cwd=REPO_ROOT,
        env={name: value for name, value in env.items() if value is not None},
        capture_output=True,
        text=True,
        timeout=600,
    )


def first_user(settings: StackSettings) -> int:
    return user_of(settings.build_dir)
