"""The commands: `run` brings up what is missing in order, `stop` stops what `run` started,
`triton` starts Triton alone on a Redis that is known to be there."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path

from deploy.stack.build import ensure_build
from deploy.stack.online_state import ensure_online_state
from deploy.stack.redis_server import ensure_redis, is_redis_server, running_redis_url
from deploy.stack.services import ensure_gateway, ensure_triton, is_gateway
from deploy.stack.settings import StackError, StackSettings
from deploy.stack.steps import say
from deploy.triton.procs import read_pid, stop_supervisor, terminate_group
from deploy.triton.stop import stop_server
from services.ensemble.contract import build_id_of
from services.ensemble.redis_url import redacted_url


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
    ensure_online_state(settings, redis_url, build_id_of(manifest))
    triton_url = ensure_triton(settings, redis_url)
    base = ensure_gateway(settings, triton_url, redis_url)
    user = first_user(settings.build_dir)
    url = f"{base}/recommend?user_id={user}&k=5"
    items = first_answer(url, settings)
    say(f"user {user} gets items {items}")
    print(f"\nThe stack is up. Try:\n  curl '{url}'\nStop it with: make stop")


def stop(settings: StackSettings) -> None:
    """Stop what `run` started, by the PID files in RUN_DIR: the supervisors first (so nothing
    is restarted meanwhile), then the gateway, Triton and our redis-server."""
    stopped = [stop_supervisor_of(name, settings) for name in ("triton", "redis")]
    stopped += [stop_gateway(settings), stop_triton(settings), stop_redis(settings)]
    if not any(stopped):
        say("nothing to stop")


def stop_supervisor_of(name: str, settings: StackSettings) -> bool:
    pid = stop_supervisor(settings.pid_file(name), settings.supervisor_stop_timeout_s)
    if pid is not None:
        say(f"stopped the supervisor of {name} (pid {pid})")
    return pid is not None


def stop_gateway(settings: StackSettings) -> bool:
    return stop_recorded("gateway", settings, is_gateway)


def stop_redis(settings: StackSettings) -> bool:
    return stop_recorded("redis", settings, is_redis_server)


def stop_triton(settings: StackSettings) -> bool:
    pid_file = settings.pid_file("triton")
    if not pid_file.exists():
        return False
    say(stop_server(pid_file))
    return True


def stop_recorded(name: str, settings: StackSettings, is_it: Callable[[int], bool]) -> bool:
    """Stop the process group ``name``'s PID file names, if it is that program (not a PID
    reused by another); says what happened. False when there is no PID file."""
    pid_file = settings.pid_file(name)
    if not pid_file.exists():
        return False
    pid = read_pid(pid_file)
    if pid is not None and is_it(pid):
        # the gateway and redis-server each lead their own process group
        outcome = terminate_group(pid, timeout=settings.stop_timeout_s)
        say(f"stopped {name} (pid {pid}, {outcome})")
    else:
        say(f"{name}: pid {pid} was not running; removed its stale PID file")
    pid_file.unlink(missing_ok=True)
    return True


def serve_triton(settings: StackSettings) -> None:
    """`make triton`: Triton alone, on REDIS_URL or the Redis `make run` started."""
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    redis_url = running_redis_url(settings)
    say(f"Triton's online store: {redacted_url(redis_url)}")
    ensure_triton(settings, redis_url)
