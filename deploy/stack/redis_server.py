"""Step 2 of `run`: Redis. REDIS_URL if given, else a private `redis-server` on
RECSYS_REDIS_PORT whose append-only file under RUN_DIR/redis survives a restart; its supervisor
(`python -m deploy.stack.supervisor redis`) starts it and restarts it after a crash."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from deploy.stack.settings import StackError, StackSettings
from deploy.stack.steps import running, say, wait_while_running
from deploy.stack.supervision import ensure_supervised
from deploy.triton.errors import StartError
from deploy.triton.logs import read_tail
from deploy.triton.probes import port_in_use
from deploy.triton.procs import live_supervisor, process_alive, program_name, terminate_group
from services.ensemble.redis_url import redacted_url

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
    """The Redis URL to serve from: REDIS_URL, or the private redis-server, which its supervisor
    starts (or restarts after a crash) and keeps running."""
    if settings.redis_url:
        say(f"Redis: {redacted_url(check_redis_url(settings))} (REDIS_URL)")
        return settings.redis_url
    url = settings.private_redis_url
    started = ensure_supervised(
        "redis",
        settings,
        ready=lambda pid: answers_ping(url, settings.probe_timeout_s),
        timeout_s=settings.redis_start_timeout_s + settings.restart_max_delay_s,
    )
    data_dir = settings.run_dir / "redis"
    say(f"Redis: {redacted_url(url)} ({started}; append-only file in {data_dir})")
    return url


def running_redis_url(settings: StackSettings) -> str:
    """REDIS_URL, else the private Redis `make run` started; one clear error if neither."""
    if settings.redis_url:
        return check_redis_url(settings)
    pid_file = settings.pid_file("redis")
    if running(pid_file) or live_supervisor(pid_file) is not None:  # up, or being restarted
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
    """A redis-server in the foreground (its supervisor is its parent and learns how it
    exited), on loopback, durable through its append-only file."""
    return [
        binary,
        *("--port", str(settings.redis_port), "--bind", "127.0.0.1", "--daemonize", "no"),
        *("--dir", str(data_dir), "--logfile", str(settings.run_dir / "redis.log")),
        # durable: the append-only file under RUN_DIR/redis brings the features, the interaction
        # sets and the build marker back after a restart; with `always` (the default) a write is
        # on disk before Redis acknowledges it
        *("--save", "", "--appendonly", "yes", "--appendfsync", settings.redis_appendfsync),
        # never evict: online state lost silently is worse than a write refused (the gateway's
        # 503) when memory runs out
        *("--maxmemory-policy", "noeviction"),
    ]


def is_redis_server(pid: int) -> bool:
    return process_alive(pid) and program_name(pid) == "redis-server"


def answers_ping(url: str, timeout_s: float) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def wait_for_redis(settings: StackSettings, url: str, process: subprocess.Popen[bytes]) -> None:
    """Until the started redis-server answers PING; StartError (one line) if it exits first or
    does not answer in time."""
    log = settings.run_dir / "redis.log"
    wait_while_running(
        process,
        lambda: answers_ping(url, settings.probe_timeout_s),
        settings.redis_start_timeout_s,
        exited=lambda code: StartError(
            f"redis-server exited with code {code} before it answered: {last_line(log)} "
            f"(see {log})"
        ),
        late=lambda: StartError(
            f"redis-server did not answer PING within "
            f"{settings.redis_start_timeout_s:g} s; see {log}"
        ),
        interval_s=0.05,
    )


def last_line(path: Path) -> str:
    lines = [line.strip() for line in read_tail(path, lines=5) if line.strip()]
    return lines[-1][:300] if lines else "nothing logged"


def start_redis_server(settings: StackSettings) -> subprocess.Popen[bytes]:
    """The private redis-server, answering PING, in its own session and a child of the caller
    (its supervisor); StartError (one line) if it does not get there, with nothing left running."""
    if port_in_use("127.0.0.1", settings.redis_port):  # its PING would answer for ours
        raise StartError(
            f"127.0.0.1:{settings.redis_port} is taken by another process: stop it or set "
            "RECSYS_REDIS_PORT"
        )
    data_dir = settings.run_dir / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    command = redis_command(settings, redis_binary(), data_dir)
    with (settings.run_dir / "redis.log").open("ab") as log:
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # leads its own group: `stop` signals the group
            )
        except OSError as exc:
            raise StartError(f"cannot run {command[0]}: {exc}") from None
    try:
        wait_for_redis(settings, settings.private_redis_url, process)
    except BaseException:
        terminate_group(process.pid, timeout=settings.stop_timeout_s, process=process)
        raise
    return process
