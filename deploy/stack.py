"""The whole stack on one machine: `python -m deploy.stack run|stop` (what `make run|stop` call).

`run` brings up whatever is missing, in order, and is quick when everything is there:
  1. a build (`python -m training build`, synthetic data unless DATA is set) and its export;
  2. Redis: REDIS_URL if given, else a private `redis-server` on RECSYS_REDIS_PORT (6390), with
     an append-only file under RUN_DIR/redis, so its state survives a restart;
  3. the build's online state in that Redis (skipped when Redis already holds it: the build
     marker and every feature key and interaction set of the build are there);
  4. Triton serving the model repository, then the gateway; each waits until ready.
It ends with a real request and prints the `curl` to try. `stop` stops only what `run` started,
by the PID files in RUN_DIR. `triton` starts Triton alone (`make triton`), on REDIS_URL or the
Redis `run` started, never on a default address. Bad input or a failing step: one line
`error: ...`, exit 1 or 2.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from deploy.triton.launch import process_alive, stop_server, terminate_group

REPO_ROOT = Path(__file__).resolve().parent.parent
MERLIN_PYTHON = Path(sys.executable)
GATEWAY_PYTHON = REPO_ROOT / ".venvs" / "gateway" / "bin" / "python"


class StackError(Exception):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class StackSettings:
    build_dir: Path = REPO_ROOT / "artifacts"
    model_repository: Path = REPO_ROOT / "model_repository"
    run_dir: Path = REPO_ROOT / "run"
    rows: int = 100_000
    data: Path | None = None
    redis_url: str | None = None
    redis_port: int = 6390
    triton_ports: tuple[int, int, int] = (8000, 8001, 8002)
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080

    @classmethod
    def from_env(cls) -> StackSettings:
        env = os.environ

        def path(name: str, default: Path) -> Path:
            return (REPO_ROOT / env[name]).resolve() if env.get(name) else default

        def number(name: str, default: int) -> int:
            try:
                return int(env.get(name, default))
            except ValueError:
                raise StackError(f"{name} must be a number, got {env[name]!r}", 2) from None

        return cls(
            build_dir=path("BUILD_DIR", cls.build_dir),
            model_repository=path("MODEL_REPOSITORY", cls.model_repository),
            run_dir=path("RUN_DIR", cls.run_dir),
            rows=number("ROWS", cls.rows),
            data=Path(env["DATA"]).expanduser() if env.get("DATA") else None,
            redis_url=env.get("REDIS_URL") or None,
            redis_port=number("RECSYS_REDIS_PORT", cls.redis_port),
            triton_ports=(
                number("TRITON_HTTP_PORT", 8000),
                number("TRITON_GRPC_PORT", 8001),
                number("TRITON_METRICS_PORT", 8002),
            ),
            gateway_host=env.get("GATEWAY_HOST", cls.gateway_host),
            gateway_port=number("GATEWAY_PORT", cls.gateway_port),
        )

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"


def say(message: str) -> None:
    print(f"[run] {message}", flush=True)


def run_step(args: list[str], env: dict[str, str] | None = None) -> None:
    env = {**(env or os.environ), "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    result = subprocess.run(args, cwd=REPO_ROOT, env=env)
    if result.returncode != 0:
        raise StackError(f"`{' '.join(args[1:])}` failed (exit {result.returncode})")


# -- 1. build and export ---------------------------------------------------------------------
def ensure_build(settings: StackSettings, redis_url: str) -> dict[str, object]:
    manifest_path = settings.build_dir / "manifest.json"
    env = {**os.environ, "REDIS_URL": redis_url}
    if not manifest_path.is_file():
        source = f"data in {settings.data}" if settings.data else f"{settings.rows} synthetic rows"
        say(f"no build in {settings.build_dir}: building on {source} (about a minute)")
        args = ["build", "--out", str(settings.build_dir), "--rows", str(settings.rows)]
        if settings.data:
            args += ["--data", str(settings.data)]
        run_step([str(MERLIN_PYTHON), "-m", "training", *args], env)
    manifest: dict[str, object] = json.loads(manifest_path.read_text())
    executor = settings.model_repository / "executor_model"
    if not executor.is_dir() or executor.stat().st_mtime < manifest_path.stat().st_mtime:
        say(f"exporting the model repository to {settings.model_repository}")
        run_step(
            [
                str(MERLIN_PYTHON),
                "-m",
                "training",
                "export",
                "--build",
                str(settings.build_dir),
                "--out",
                str(settings.model_repository),
            ],
            env,
        )
    return manifest


# -- 2. Redis ---------------------------------------------------------------------------------
def ensure_redis(settings: StackSettings) -> str:
    import redis

    if settings.redis_url:
        try:
            redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3).ping()
        except (redis.RedisError, ValueError) as exc:
            raise StackError(f"REDIS_URL={settings.redis_url} does not answer: {exc}", 2) from exc
        say(f"Redis: {settings.redis_url} (REDIS_URL)")
        return settings.redis_url
    url = f"redis://127.0.0.1:{settings.redis_port}/0"
    if running(settings.pid_file("redis")):
        say(f"Redis: {url} (already running)")
        return url
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if binary is None:
        raise StackError(
            "no Redis: set REDIS_URL=redis://HOST:PORT/DB to use one, or install redis-server "
            "(Debian/Ubuntu: sudo apt-get install redis-server) and run make run again",
            2,
        )
    data_dir = settings.run_dir / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            binary,
            "--port",
            str(settings.redis_port),
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "yes",
            "--pidfile",
            str(settings.pid_file("redis")),
            "--dir",
            str(data_dir),
            # durable: the append-only file (fsync once a second) under RUN_DIR/redis brings the
            # features, the interaction sets and the build marker back after a restart
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--logfile",
            str(settings.run_dir / "redis.log"),
        ],
        check=True,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise StackError(
                    f"redis-server did not start; see {settings.run_dir}/redis.log"
                ) from None
            time.sleep(0.1)
    say(f"Redis: started redis-server on {url} with its append-only file in {data_dir}")
    return url


def running_redis_url(settings: StackSettings) -> str:
    """REDIS_URL, else the private Redis `make run` started; one clear error if neither."""
    import redis

    if settings.redis_url:
        try:
            redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3).ping()
        except (redis.RedisError, ValueError) as exc:
            raise StackError(f"REDIS_URL={settings.redis_url} does not answer: {exc}", 2) from exc
        return settings.redis_url
    if running(settings.pid_file("redis")):
        return f"redis://127.0.0.1:{settings.redis_port}/0"
    raise StackError(
        f"no Redis to serve from: set REDIS_URL=redis://HOST:PORT/DB, or start the stack's own "
        f"Redis with `make run` (none running per {settings.pid_file('redis')})",
        2,
    )


# -- 3. online state --------------------------------------------------------------------------
def ensure_online_state(settings: StackSettings, redis_url: str, build_id: str) -> None:
    """Materialize unless Redis holds this build's state: its marker AND all of its keys
    (a Redis restarted empty, or a marker without the data, is refilled)."""
    from training.feature_store import missing_online_state

    missing = missing_online_state(settings.build_dir, redis_url, build_id)
    if missing is None:
        say(f"online state: build {build_id} already in Redis")
        return
    say(f"online state: {missing}; materializing build {build_id}")
    env = {**os.environ, "REDIS_URL": redis_url}
    run_step(
        [
            str(MERLIN_PYTHON),
            "-m",
            "training",
            "materialize",
            "--build",
            str(settings.build_dir),
        ],
        env,
    )


# -- 4. Triton and the gateway ----------------------------------------------------------------
def ensure_triton(settings: StackSettings, redis_url: str) -> str:
    http, grpc, metrics = settings.triton_ports
    grpc_url = f"127.0.0.1:{grpc}"
    if running(settings.pid_file("triton")) and http_ok(f"http://127.0.0.1:{http}/v2/health/ready"):
        say(f"Triton: {grpc_url} (already running)")
        return grpc_url
    run_step(
        [
            str(MERLIN_PYTHON),
            "-m",
            "deploy.triton.launch",
            "start",
            "--model-repository",
            str(settings.model_repository),
            "--http-port",
            str(http),
            "--grpc-port",
            str(grpc),
            "--metrics-port",
            str(metrics),
            "--run-dir",
            str(settings.run_dir / "triton"),
            "--log-file",
            str(settings.run_dir / "triton.log"),
            "--pid-file",
            str(settings.pid_file("triton")),
        ],
        {**os.environ, "REDIS_URL": redis_url},
    )
    return grpc_url


def ensure_gateway(settings: StackSettings, triton_url: str, redis_url: str) -> str:
    base = f"http://{settings.gateway_host}:{settings.gateway_port}"
    if running(settings.pid_file("gateway")) and http_ok(f"{base}/readyz"):
        say(f"gateway: {base} (already running)")
        return base
    if not GATEWAY_PYTHON.exists():
        raise StackError(f"{GATEWAY_PYTHON} missing: run `make setup`", 2)
    env = {
        **os.environ,
        "GATEWAY_TRITON_URL": triton_url,
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_HOST": settings.gateway_host,
        "GATEWAY_PORT": str(settings.gateway_port),
    }
    log = (settings.run_dir / "gateway.log").open("ab")
    process = subprocess.Popen(
        [str(GATEWAY_PYTHON), "-m", "services.gateway"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    settings.pid_file("gateway").write_text(f"{process.pid}\n")
    deadline = time.monotonic() + 30
    while not http_ok(f"{base}/readyz"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise StackError(f"the gateway did not get ready; see {settings.run_dir}/gateway.log")
        time.sleep(0.2)
    say(f"gateway: {base} (pid {process.pid})")
    return base


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def read_pid(pid_file: Path) -> int | None:
    try:
        text = pid_file.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 1 else None


def running(pid_file: Path) -> bool:
    pid = read_pid(pid_file)
    return pid is not None and process_alive(pid)


def first_user(build_dir: Path) -> int:
    import pyarrow.parquet as pq

    table = pq.read_table(
        build_dir / "feature_repo" / "data" / "user_features.parquet", columns=["user_id"]
    )
    return int(table.column("user_id")[0].as_py())


def run(settings: StackSettings) -> None:
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    redis_url = ensure_redis(settings)
    manifest = ensure_build(settings, redis_url)
    ensure_online_state(settings, redis_url, str(manifest["created_at"]))
    triton_url = ensure_triton(settings, redis_url)
    base = ensure_gateway(settings, triton_url, redis_url)
    user = first_user(settings.build_dir)
    url = f"{base}/recommend?user_id={user}&k=5"
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.loads(response.read())
    items = [item["item_id"] for item in answer["items"]]
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
                terminate_group(pid, timeout=10.0)
        pid_file.unlink(missing_ok=True)
        say(f"stopped {name}")
        stopped_any = True
    if not stopped_any:
        say("nothing to stop")


def serve_triton(settings: StackSettings) -> None:
    """`make triton`: Triton alone, on REDIS_URL or the Redis `make run` started."""
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    redis_url = running_redis_url(settings)
    say(f"Triton's online store: {redis_url}")
    ensure_triton(settings, redis_url)


COMMANDS = {"run": run, "stop": stop, "triton": serve_triton}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in COMMANDS:
        print("usage: python -m deploy.stack run|stop|triton", file=sys.stderr)
        return 2
    try:
        settings = StackSettings.from_env()
        COMMANDS[args[0]](settings)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted (make stop stops what was started)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
