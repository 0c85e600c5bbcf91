"""The checks on the stack as a whole: build, up, Locust, restarts, nothing rebuilt, down."""

from __future__ import annotations

import csv
import json
import shutil
import time
from collections.abc import Callable, Sequence
from typing import Any

from tests.e2e.compose_check.common import (
    LONG_RUNNING,
    PROJECT,
    CheckFailed,
    Context,
    K,
    compose,
    run,
)
from tests.e2e.compose_check.gateway import item_ids, recommend_when_back
from tests.e2e.compose_check.request_checks import assert_excluded, known_user


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
