"""The checks through real requests: known and unknown users, an interaction, Triton's explicit
model control and the rollout tool."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.e2e.compose_check.common import UNKNOWN_USER, CheckFailed, Context, K, compose
from tests.e2e.compose_check.gateway import first_answer, http, item_ids, recommend


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
