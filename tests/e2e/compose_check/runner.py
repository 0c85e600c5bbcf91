"""The checks in order, the command line, the run and its summary (exit 0, 1 or 2)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.e2e import compose_check
from tests.e2e.compose_check.common import (
    COMPOSE_FILES,
    HOST_PORTS,
    PROJECT,
    ROOT,
    CheckFailed,
    Context,
    EnvironmentMissing,
    run,
)
from tests.e2e.compose_check.engine import (
    base_images,
    free_ports,
    pip_ca_bundle,
    start_engine,
    stop_engine,
)
from tests.e2e.compose_check.request_checks import (
    check_explicit_mode,
    check_interaction,
    check_known_user,
    check_unknown_user,
)
from tests.e2e.compose_check.stack_checks import (
    check_build,
    check_down,
    check_locust,
    check_no_rebuild,
    check_restart,
    check_up,
    leftovers,
)

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


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.e2e.compose_check",
        description=(compose_check.__doc__ or "").splitlines()[0],
    )
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
