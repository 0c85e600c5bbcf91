"""Step 2 of `run`: Redis. REDIS_URL if given, else a private `redis-server` on
RECSYS_REDIS_PORT whose append-only file under RUN_DIR/redis survives a restart."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from deploy.stack.settings import StackError, StackSettings
from deploy.stack.steps import running, say
from services.gateway.core.redact import redacted_url

NO_REDIS_SERVER = (
    "no Redis: set REDIS_URL=redis://HOST:PORT/DB to use one, or install redis-server "
    "(Debian/Ubuntu: sudo apt-get install redis-server) and run make run again"
)


def check_redis_url(settings: StackSettings) -> str:
    """REDIS_URL, once it answered PING; exit 2 with one line if it does not."""
    from services.ensemble.redis_store import REDIS_ERRORS, client_from_url

    assert settings.redis_url is not None
    try:  # a redis+cluster:// URL gives a cluster client
        client = client_from_url(
            settings.redis_url, connect_timeout_s=settings.redis_ping_timeout_s
        )
        client.ping()
    except (*REDIS_ERRORS, ValueError) as exc:
        shown = redacted_url(settings.redis_url)
        raise StackError(f"REDIS_URL={shown} does not answer: {exc}", 2) from exc
    return settings.redis_url


def ensure_redis(settings: StackSettings) -> str:
    """The Redis URL to serve from: REDIS_URL, the private Redis running, or one started now."""
    if settings.redis_url:
        say(f"Redis: {redacted_url(check_redis_url(settings))} (REDIS_URL)")
        return settings.redis_url
    url = settings.private_redis_url
    if running(settings.pid_file("redis")):
        say(f"Redis: {redacted_url(url)} (already running)")
        return url
    data_dir = settings.run_dir / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(redis_command(settings, redis_binary(), data_dir), check=True)
    wait_for_redis(settings, url)
    shown = redacted_url(url)
    say(f"Redis: started redis-server on {shown} with its append-only file in {data_dir}")
    return url


def running_redis_url(settings: StackSettings) -> str:
    """REDIS_URL, else the private Redis `make run` started; one clear error if neither."""
    if settings.redis_url:
        return check_redis_url(settings)
    if running(settings.pid_file("redis")):
        return settings.private_redis_url
    raise StackError(
        f"no Redis to serve from: set REDIS_URL=redis://HOST:PORT/DB, or start the stack's own "
        f"Redis with `make run` (none running per {settings.pid_file('redis')})",
        2,
    )


def redis_binary() -> str:
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if binary is None:
        raise StackError(NO_REDIS_SERVER, 2)
    return binary


def redis_command(settings: StackSettings, binary: str, data_dir: Path) -> list[str]:
    """A daemonized redis-server on loopback, durable through its append-only file."""
    return [
        binary,
        *("--port", str(settings.redis_port), "--bind", "127.0.0.1", "--daemonize", "yes"),
        *("--pidfile", str(settings.pid_file("redis")), "--dir", str(data_dir)),
        # durable: the append-only file (fsync once a second) under RUN_DIR/redis brings the
        # features, the interaction sets and the build marker back after a restart
        *("--save", "", "--appendonly", "yes", "--appendfsync", "everysec"),
        *("--logfile", str(settings.run_dir / "redis.log")),
    ]


def wait_for_redis(settings: StackSettings, url: str) -> None:
    import redis

    deadline = time.monotonic() + settings.redis_start_timeout_s
    while True:
        try:
            redis.Redis.from_url(url).ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise StackError(
                    f"redis-server did not start; see {settings.run_dir}/redis.log"
                ) from None
            time.sleep(0.1)
