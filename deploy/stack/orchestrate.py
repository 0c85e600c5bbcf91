"""The commands: `run` brings up what is missing in order, `stop` stops what `run` started,
`triton` starts Triton alone on a Redis that is known to be there."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from deploy.stack.build import ensure_build
from deploy.stack.online_state import ensure_online_state
from deploy.stack.redis_server import ensure_redis, running_redis_url
from deploy.stack.services import ensure_gateway, ensure_triton
from deploy.stack.settings import StackError, StackSettings
from deploy.stack.steps import say
from deploy.triton.procs import read_pid, terminate_group
from deploy.triton.stop import stop_server
from services.gateway.core.redact import redacted_url


def first_user(build_dir: Path) -> int:
    import pyarrow.parquet as pq

    table = pq.read_table(
        build_dir / "feature_repo" / "data" / "user_features.parquet", columns=["user_id"]
    )
    return int(table.column("user_id")[0].as_py())


def first_answer(url: str, settings: StackSettings) -> list[int]:
    """The item ids of a real request through the gateway; a failure is one StackError line."""
    try:
        with urllib.request.urlopen(url, timeout=settings.answer_timeout_s) as response:
            answer = json.loads(response.read())
        return [int(item["item_id"]) for item in answer["items"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:  # URLError/HTTPError are OSErrors
        raise StackError(
            f"the stack is up but {url} failed ({exc}); see {settings.run_dir}/gateway.log"
        ) from None


def run(settings: StackSettings) -> None:
    """Redis, the build, its online state, Triton, the gateway; then one real request."""
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    redis_url = ensure_redis(settings)
    manifest = ensure_build(settings, redis_url)
    ensure_online_state(settings, redis_url, str(manifest["created_at"]))
    triton_url = ensure_triton(settings, redis_url)
    base = ensure_gateway(settings, triton_url, redis_url)
    user = first_user(settings.build_dir)
    url = f"{base}/recommend?user_id={user}&k=5"
    items = first_answer(url, settings)
    say(f"user {user} gets items {items}")
    print(f"\nThe stack is up. Try:\n  curl '{url}'\nStop it with: make stop")


def stop(settings: StackSettings) -> None:
    """Stop the gateway, Triton and our redis-server: only what `run` started."""
    stopped_any = False
    for name in ("gateway", "triton", "redis"):
        pid_file = settings.pid_file(name)
        if not pid_file.exists():
            continue
        if name == "triton":
            say(stop_server(pid_file))
        else:
            pid = read_pid(pid_file)
            if pid is not None:
                # the gateway (start_new_session) and a daemonized redis-server lead their groups
                terminate_group(pid, timeout=settings.stop_timeout_s)
        pid_file.unlink(missing_ok=True)
        say(f"stopped {name}")
        stopped_any = True
    if not stopped_any:
        say("nothing to stop")


def serve_triton(settings: StackSettings) -> None:
    """`make triton`: Triton alone, on REDIS_URL or the Redis `make run` started."""
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    redis_url = running_redis_url(settings)
    say(f"Triton's online store: {redacted_url(redis_url)}")
    ensure_triton(settings, redis_url)
