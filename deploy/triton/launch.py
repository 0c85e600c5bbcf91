"""Run a real Triton Inference Server for a model repository, on CPU, without Docker.

The ``tritonserver`` binary comes from the PyPI wheel ``nvidia-pytriton`` (python backend only).
See ``deploy/triton/README.md`` for how the local route works.

    python -m deploy.triton.launch start --model-repository model_repository
    python -m deploy.triton.launch stop --pid-file /tmp/triton-0-8000/tritonserver.pid
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import filecmp
import http.client
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import NoReturn

DESCRIPTION = "Run a real Triton Inference Server for a model repository, without Docker."
HEALTH_PATH = "/v2/health/ready"
STUB_NAME = "triton_python_backend_stub"
LOG_TAIL_LINES = 20
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # holds deploy/, for `-m deploy.triton.watchdog`
EXIT_TIMEOUT_S = 5
"""Triton's own shutdown wait (--exit-timeout-secs, Triton's default 30): after a stub died, the
dead instance's model version never finishes unloading and shutdown waits all of it."""

# Startup messages that are normal on a machine without a GPU: never reported as the cause.
HARMLESS = re.compile(
    r"CudaDriverHelper|CUDA driver|CUDA runtime|NVML|unable to create stream|DCGM|pinned memory"
    r"|GPU metrics",
    re.IGNORECASE,
)
# glog prefix: "E1127 21:15:01.561002 10338 main.cc:245] message"
GLOG_ERROR = re.compile(r"^[EF]\d{4} [\d:.]+\s+\d+ [^\]]*\]\s*(?P<msg>.*)$")


class LaunchError(Exception):
    """A failure reported as one ``error: ...`` line; ``exit_code`` is the CLI's exit status."""

    exit_code = 1


class ConfigError(LaunchError):
    """Bad input, found before anything is started (exit 2)."""

    exit_code = 2


class StartError(LaunchError):
    """The server was started but did not become ready (exit 1)."""


def _port(value: str, name: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise ConfigError(f"{name}: expected a port number 1-65535, got {value!r}")
    return port


@dataclass(frozen=True)
class TritonSettings:
    """Bind address and ports; defaults can come from TRITON_* environment variables."""

    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TritonSettings:
        env = os.environ if environ is None else environ
        defaults = cls()

        def port(name: str, default: int) -> int:
            return _port(env.get(name, str(default)), name)

        return cls(
            host=env.get("TRITON_HOST") or defaults.host,
            http_port=port("TRITON_HTTP_PORT", defaults.http_port),
            grpc_port=port("TRITON_GRPC_PORT", defaults.grpc_port),
            metrics_port=port("TRITON_METRICS_PORT", defaults.metrics_port),
        )


@dataclass(frozen=True)
class PythonEnv:
    """The Python environment the python-backend stub runs model code in."""

    prefix: Path
    bin_dir: Path
    version: str  # "3.11"
    libdir: Path  # holds libpython3.X.so.1.0


def find_tritonserver() -> Path:
    """The ``tritonserver`` binary inside the installed ``pytriton`` package (not imported)."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("pytriton is not installed: pip install --no-deps nvidia-pytriton==0.7.0")
    binary = Path(next(iter(spec.submodule_search_locations))) / "tritonserver/bin/tritonserver"
    if not os.access(binary, os.X_OK):
        raise ConfigError(f"no executable tritonserver binary at {binary}")
    return binary


def python_env(venv: Path | None = None) -> PythonEnv:
    """The running interpreter's environment, or that of the virtualenv ``venv``."""
    if venv is None:
        prefix = Path(sys.prefix)
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
        libdir = Path(str(sysconfig.get_config_var("LIBDIR")))
    else:
        python = venv / "bin" / "python"
        if not os.access(python, os.X_OK):
            raise ConfigError(f"--python-venv {venv}: no executable {python}")
        code = (
            "import json, sys, sysconfig; print(json.dumps([sys.prefix, "
            "'%d.%d' % sys.version_info[:2], sysconfig.get_config_var('LIBDIR')]))"
        )
        try:
            out = subprocess.run(
                [str(python), "-c", code], capture_output=True, text=True, timeout=60, check=True
            ).stdout
            prefix_s, version, libdir_s = json.loads(out)
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            raise ConfigError(f"--python-venv {venv}: cannot query its python ({exc})") from None
        prefix, libdir = Path(prefix_s), Path(str(libdir_s))
    if not (libdir / f"libpython{version}.so.1.0").exists():
        raise ConfigError(
            f"libpython{version}.so.1.0 not found in {libdir}: the python backend stub needs a "
            "Python built with --enable-shared"
        )
    return PythonEnv(prefix=prefix, bin_dir=prefix / "bin", version=version, libdir=libdir)


def prepare_backend_dir(server_root: Path, run_dir: Path, version: str) -> Path:
    """A private ``--backend-directory``: the wheel's python backend plus the stub for ``version``.

    The wheel's own ``backends/python`` is never written to (it may be read-only or shared by
    several environments). The backend library and utils module are symlinked; the stub is copied
    (atomically, only when it changed), so a running server keeps its file.
    """
    source = server_root / "backends" / "python"
    stub = server_root / "python_backend_stubs" / version / STUB_NAME
    if not stub.is_file():
        have = sorted(p.name for p in (server_root / "python_backend_stubs").glob("*"))
        raise ConfigError(f"no python backend stub for Python {version} (have: {', '.join(have)})")
    backends = run_dir / "backends"
    target = backends / "python"
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if not item.is_file():
            continue
        link = target / item.name
        if link.is_symlink() and os.readlink(link) == str(item):
            continue
        tmp = target / f".{item.name}.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(item)
        os.replace(tmp, link)
    dest = target / STUB_NAME
    if not (dest.is_file() and filecmp.cmp(stub, dest, shallow=True)):
        tmp = target / f".{STUB_NAME}.{os.getpid()}"
        shutil.copy2(stub, tmp)
        tmp.chmod(0o755)
        os.replace(tmp, dest)
    return backends


def server_env(env: PythonEnv, server_root: Path) -> dict[str, str]:
    """The server's environment: libpython and the wheel's bundled libs found, the venv first."""
    result = dict(os.environ)
    result.pop("PYTHONHOME", None)
    # The stub's RPATH ($ORIGIN/../../../../nvidia_pytriton.libs) only works from inside the
    # wheel; from the private backend dir its bundled libcudart must come from LD_LIBRARY_PATH.
    bundled = server_root.parent.parent / "nvidia_pytriton.libs"
    libs = [str(env.libdir)] + ([str(bundled)] if bundled.is_dir() else [])
    result["LD_LIBRARY_PATH"] = os.pathsep.join([*libs, result.get("LD_LIBRARY_PATH", "")]).rstrip(
        os.pathsep
    )
    result["PATH"] = os.pathsep.join([str(env.bin_dir), result.get("PATH", "")]).rstrip(os.pathsep)
    result["VIRTUAL_ENV"] = str(env.prefix)
    return result


def port_in_use(host: str, port: int) -> bool:
    """True if ``host:port`` cannot be bound because something else holds it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if isinstance(exc, socket.gaierror) or exc.errno != 98:  # EADDRINUSE
                raise ConfigError(f"cannot bind {host}:{port}: {exc.strerror or exc}") from None
            return True
    return False


def is_ready(host: str, port: int, timeout: float = 1.0) -> bool:
    """``GET /v2/health/ready`` answers 200 (no proxies involved)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", HEALTH_PATH)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def read_tail(path: Path, lines: int = LOG_TAIL_LINES, max_bytes: int = 256_000) -> list[str]:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - max_bytes))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    return text.splitlines()[-lines:] if lines else text.splitlines()


def summarize_log(path: Path) -> str:
    """The most telling error of a Triton log, on one line; harmless CPU messages skipped."""
    errors: list[str] = []
    for line in read_tail(path, lines=0):
        match = GLOG_ERROR.match(line)
        if match:
            message = match.group("msg").strip().strip('"')
        elif line.startswith("error:"):
            message = line[len("error:") :].strip()
        else:
            continue
        message = message.split("\\n")[0].strip()  # Triton escapes tracebacks as literal \n
        if message and not HARMLESS.search(message) and message not in errors:
            errors.append(message)
    if not errors:
        tail = [line.strip() for line in read_tail(path, lines=5) if line.strip()]
        return f"no error logged (last line: {tail[-1][:200]})" if tail else "no output logged"
    last = errors[-1]
    if "failed to load all models" in last:
        causes = [e for e in errors if e.startswith("failed to load '")][-3:]
        return "; ".join([*causes, last])
    return last[:300]


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, process group) of a process, from /proc; None if it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[2])


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None and stat[1] == pgid and stat[0] != "Z":
                members.append(int(entry.name))
    return members


def process_alive(pid: int) -> bool:
    stat = _proc_stat(pid)
    return stat is not None and stat[0] != "Z"


def is_tritonserver(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "tritonserver"
    except OSError:
        return False


def terminate_group(
    pgid: int, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None
) -> str:
    """SIGTERM the process group, wait, SIGKILL what is left; 'terminated', 'killed' or 'gone'."""

    def wait(seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while True:
            if process is not None:
                process.poll()  # reap our own child so it does not linger as a zombie
            if not group_members(pgid):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    if not group_members(pgid):
        if process is not None:
            process.poll()
        return "gone"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    if wait(timeout):
        return "terminated"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    if wait(10.0):
        return "killed"
    raise LaunchError(f"process group {pgid} still alive after SIGKILL")


def _url_host(host: str) -> str:
    """The address a client connects to: wildcard binds are reached over loopback."""
    connect = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"[{connect}]" if ":" in connect else connect


def _write_pid_file(path: Path, pid: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(f"{pid}\n")
    os.replace(tmp, path)


class TritonServer:
    """One ``tritonserver`` process for a model repository, in its own process group.

    ``start()`` returns once ``/v2/health/ready`` answers 200 (every model loaded); ``stop()``
    terminates the whole process group (server and python-backend stubs). Usable as a context
    manager. Unless ``stop_at_exit`` is False, a server still running at interpreter exit is
    stopped.
    """

    def __init__(
        self,
        model_repository: str | os.PathLike[str],
        *,
        host: str | None = None,
        http_port: int | None = None,
        grpc_port: int | None = None,
        metrics_port: int | None = None,
        settings: TritonSettings | None = None,
        run_dir: str | os.PathLike[str] | None = None,
        log_file: str | os.PathLike[str] | None = None,
        pid_file: str | os.PathLike[str] | None = None,
        python_venv: str | os.PathLike[str] | None = None,
        extra_args: Sequence[str] = (),
        extra_env: Mapping[str, str] | None = None,
        check_ports: bool = True,
        stop_at_exit: bool = True,
        watchdog: bool = True,
        exit_timeout_s: int = EXIT_TIMEOUT_S,
    ) -> None:
        base = settings or TritonSettings.from_env()
        self.model_repository = Path(model_repository).absolute()
        self.host = base.host if host is None else host
        self.http_port = base.http_port if http_port is None else http_port
        self.grpc_port = base.grpc_port if grpc_port is None else grpc_port
        self.metrics_port = base.metrics_port if metrics_port is None else metrics_port
        self._run_dir = Path(run_dir).absolute() if run_dir is not None else None
        self._log_file = Path(log_file).absolute() if log_file is not None else None
        self.pid_file = Path(pid_file).absolute() if pid_file is not None else None
        self.python_venv = Path(python_venv).absolute() if python_venv is not None else None
        self.extra_args = list(extra_args)
        self.extra_env = dict(extra_env or {})
        """Set in the server's environment, which its python models inherit (e.g. REDIS_URL)."""
        self.check_ports = check_ports
        self.stop_at_exit = stop_at_exit
        self.watchdog = watchdog
        """Run deploy.triton.watchdog beside the server: it reloads a model whose stub died."""
        self.exit_timeout_s = exit_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self.watchdog_process: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None
        self._owns_run_dir = False

    # -- addresses -------------------------------------------------------------------------
    @property
    def http_url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        """``host:port``, the form ``tritonclient.grpc.InferenceServerClient(url=...)`` takes."""
        return f"{_url_host(self.host)}:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.metrics_port}/metrics"

    @property
    def ports(self) -> tuple[int, int, int]:
        return self.http_port, self.grpc_port, self.metrics_port

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def run_dir(self) -> Path | None:
        return self._run_dir

    @property
    def log_file(self) -> Path | None:
        if self._log_file is not None:
            return self._log_file
        return self._run_dir / "tritonserver.log" if self._run_dir is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- lifecycle -------------------------------------------------------------------------
    def _validate(self) -> None:
        repo = self.model_repository
        if not repo.exists():
            raise ConfigError(f"model repository {repo} does not exist")
        if not repo.is_dir():
            raise ConfigError(f"model repository {repo} is not a directory")
        ports = {"http": self.http_port, "grpc": self.grpc_port, "metrics": self.metrics_port}
        for name, port in ports.items():
            _port(str(port), f"{name} port")
        if len(set(ports.values())) != 3:
            raise ConfigError(f"http, grpc and metrics ports must differ, got {ports}")
        if self.check_ports:
            for name, port in ports.items():
                if port_in_use(self.host, port):
                    raise ConfigError(f"{name} port {self.host}:{port} is already in use")

    def command(self, binary: Path, backends: Path) -> list[str]:
        """Explicit model control, every model loaded at start (as in the default mode), so the
        watchdog can reload one model through the repository API."""
        given = {arg.split("=")[0] for arg in self.extra_args}
        defaults = {
            "--model-control-mode": "explicit",
            "--load-model": "*",
            "--exit-timeout-secs": str(self.exit_timeout_s),
        }
        if given & {"--model-control-mode", "--load-model"}:
            defaults = {"--exit-timeout-secs": defaults["--exit-timeout-secs"]}
        return [
            str(binary),
            f"--model-repository={self.model_repository}",
            f"--backend-directory={backends}",
            f"--http-address={self.host}",
            f"--grpc-address={self.host}",
            f"--metrics-address={self.host}",
            f"--http-port={self.http_port}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-port={self.metrics_port}",
            *[f"{flag}={value}" for flag, value in defaults.items() if flag not in given],
            *self.extra_args,
        ]

    @property
    def watchdog_pid_file(self) -> Path | None:
        return watchdog_pid_file(self.pid_file) if self.pid_file is not None else None

    def start(self, timeout: float = 120.0) -> TritonServer:
        """Start the server and wait until it is ready; raises ConfigError or StartError."""
        if self.running:
            raise LaunchError(f"already running (pid {self.pid})")
        self._validate()
        binary = find_tritonserver()
        server_root = binary.parent.parent
        env = python_env(self.python_venv)
        if self._run_dir is None:
            self._run_dir = Path(tempfile.mkdtemp(prefix="triton-"))
            self._owns_run_dir = True
        backends = prepare_backend_dir(server_root, self._run_dir, env.version)
        log_file = self.log_file
        assert log_file is not None
        log_file.parent.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        try:
            with log_file.open("ab") as log:  # appended: a restart keeps the earlier runs' log
                stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
                log.write(f"--- launch.py: tritonserver starting at {stamp} UTC ---\n".encode())
                log.flush()
                self.process = subprocess.Popen(
                    self.command(binary, backends),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**server_env(env, server_root), **self.extra_env},
                    start_new_session=True,  # own session and process group, detached
                )
        except OSError as exc:
            raise StartError(f"cannot run {binary}: {exc}") from None
        if self.pid_file is not None:
            _write_pid_file(self.pid_file, self.process.pid)
        if self.stop_at_exit:
            atexit.register(self.stop)
        try:
            self._wait_ready(timeout, log_file)
        except BaseException:
            self._kill_and_forget()
            raise
        self.startup_seconds = time.monotonic() - began
        if self.watchdog:
            self._start_watchdog(log_file)
        return self

    def _start_watchdog(self, log_file: Path) -> None:
        assert self.process is not None
        with log_file.open("ab") as log:
            self.watchdog_process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "deploy.triton.watchdog",
                    f"--server-pid={self.process.pid}",
                    f"--host={_url_host(self.host).strip('[]')}",
                    f"--http-port={self.http_port}",
                ],
                cwd=PACKAGE_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives the CLI; exits when the server is gone
            )
        if self.watchdog_pid_file is not None:
            _write_pid_file(self.watchdog_pid_file, self.watchdog_process.pid)

    def _stop_watchdog(self) -> None:
        """First, so that it does not reload models while the server shuts down."""
        if self.watchdog_process is not None:
            terminate_group(self.watchdog_process.pid, timeout=5.0, process=self.watchdog_process)
            self.watchdog_process = None
        if self.watchdog_pid_file is not None:
            self.watchdog_pid_file.unlink(missing_ok=True)

    def _wait_ready(self, timeout: float, log_file: Path) -> None:
        assert self.process is not None
        host = _url_host(self.host).strip("[]")
        see = f"see tail -n {LOG_TAIL_LINES} {log_file}"
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise StartError(
                    f"tritonserver exited with code {code} before it was ready: "
                    f"{summarize_log(log_file)} ({see})"
                )
            if is_ready(host, self.http_port):
                return
            if time.monotonic() >= deadline:
                raise StartError(
                    f"tritonserver not ready after {timeout:g} s (pid {self.process.pid}); last "
                    f"message: {summarize_log(log_file)} ({see})"
                )
            time.sleep(0.1)

    def _kill_and_forget(self) -> None:
        """After a failed start: stop whatever runs, keep the log (the error points at it)."""
        if self.process is not None:
            terminate_group(self.process.pid, timeout=10.0, process=self.process)
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)
        atexit.unregister(self.stop)

    def stop(self, timeout: float = 30.0) -> str:
        """Terminate the process group; 'terminated', 'killed' or 'gone' (never started)."""
        atexit.unregister(self.stop)
        self._stop_watchdog()
        if self.process is None:
            return "gone"
        outcome = terminate_group(self.process.pid, timeout=timeout, process=self.process)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1.0)
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)
        if self._owns_run_dir and self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None
            self._owns_run_dir = False
        return outcome

    def __enter__(self) -> TritonServer:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def watchdog_pid_file(pid_file: Path) -> Path:
    """Where the watchdog of the server recorded in ``pid_file`` records its own PID."""
    return pid_file.with_name(f"{pid_file.stem}.watchdog.pid")


def stop_watchdog(pid_file: Path) -> None:
    """Stop the watchdog recorded beside ``pid_file``, if it is one (not a reused PID)."""
    path = watchdog_pid_file(pid_file)
    text = path.read_text().strip() if path.exists() else ""
    if text.isdigit() and int(text) > 1 and is_watchdog(int(text)):
        terminate_group(int(text), timeout=5.0)
    path.unlink(missing_ok=True)


def is_watchdog(pid: int) -> bool:
    try:
        return b"deploy.triton.watchdog" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def stop_server(pid_file: Path, timeout: float = 30.0) -> str:
    """Stop the server recorded in ``pid_file``; a missing or stale PID file is not an error."""
    stop_watchdog(pid_file)
    if not pid_file.exists():
        return f"no PID file at {pid_file}: nothing to stop"
    text = pid_file.read_text().strip()
    if not text.isdigit() or int(text) <= 1:
        pid_file.unlink(missing_ok=True)
        return f"removed invalid PID file {pid_file} ({text[:20]!r})"
    pid = int(text)
    leader_alive = process_alive(pid)
    if leader_alive and not is_tritonserver(pid):
        pid_file.unlink(missing_ok=True)
        return f"removed stale PID file {pid_file}: pid {pid} is not tritonserver"
    if not leader_alive and not group_members(pid):
        pid_file.unlink(missing_ok=True)
        return f"removed stale PID file {pid_file}: pid {pid} is not running"
    # A group whose leader died can only hold the leader's own children (e.g. stubs): the kernel
    # does not hand out a PID that is still in use as a process group id.
    began = time.monotonic()
    outcome = terminate_group(pid, timeout=timeout)
    pid_file.unlink(missing_ok=True)
    how = {"killed": "SIGKILL after timeout", "terminated": "SIGTERM", "gone": "already gone"}
    return f"stopped tritonserver pid {pid} ({how[outcome]}, {time.monotonic() - began:.1f} s)"


def default_run_dir(http_port: int) -> Path:
    return Path(tempfile.gettempdir()) / f"triton-{os.getuid()}-{http_port}"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {value!r}")
    return number


def _seconds(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"must be whole seconds >= 0, got {value!r}")
    return int(value)


def _port_arg(value: str) -> int:
    try:
        return _port(value, "port")
    except ConfigError:
        raise argparse.ArgumentTypeError(f"expected a port number 1-65535, got {value!r}") from None


def build_parser(settings: TritonSettings) -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m deploy.triton.launch", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    start = commands.add_parser(
        "start",
        help="start tritonserver detached and wait until it is ready",
        description="Start tritonserver detached; extra tritonserver flags may follow '--'.",
    )
    start.add_argument("--model-repository", type=Path, required=True)
    start.add_argument("--host", default=settings.host, help="bind address (TRITON_HOST)")
    start.add_argument("--http-port", type=_port_arg, default=settings.http_port)
    start.add_argument("--grpc-port", type=_port_arg, default=settings.grpc_port)
    start.add_argument("--metrics-port", type=_port_arg, default=settings.metrics_port)
    start.add_argument(
        "--run-dir",
        type=Path,
        help="backends, log, PID file (default: $TMPDIR/triton-UID-HTTPPORT)",
    )
    start.add_argument("--log-file", type=Path, help="default: RUN_DIR/tritonserver.log")
    start.add_argument("--pid-file", type=Path, help="default: RUN_DIR/tritonserver.pid")
    start.add_argument("--timeout", type=_positive, default=120.0, help="seconds to get ready")
    start.add_argument(
        "--python-venv", type=Path, help="venv the python models run in (default: this Python's)"
    )
    start.add_argument(
        "--no-watchdog",
        action="store_true",
        help="do not reload a model whose python-backend process died",
    )
    start.add_argument(
        "--exit-timeout",
        type=_seconds,
        default=EXIT_TIMEOUT_S,
        help=f"tritonserver's own shutdown wait, whole seconds (default {EXIT_TIMEOUT_S})",
    )
    stop = commands.add_parser("stop", help="stop the server recorded in a PID file")
    stop.add_argument(
        "--pid-file",
        type=Path,
        default=default_run_dir(settings.http_port) / "tritonserver.pid",
        help="default: the start command's default for TRITON_HTTP_PORT",
    )
    stop.add_argument("--timeout", type=_positive, default=30.0, help="seconds before SIGKILL")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in args_list:
        cut = args_list.index("--")
        args_list, extra = args_list[:cut], args_list[cut + 1 :]
    try:
        settings = TritonSettings.from_env()
        args = build_parser(settings).parse_args(args_list)
        if args.command == "stop":
            if extra:
                raise ConfigError("stop takes no extra tritonserver arguments")
            print(stop_server(args.pid_file.absolute(), timeout=args.timeout))
            return 0
        run_dir = args.run_dir or default_run_dir(args.http_port)
        server = TritonServer(
            args.model_repository,
            host=args.host,
            http_port=args.http_port,
            grpc_port=args.grpc_port,
            metrics_port=args.metrics_port,
            run_dir=run_dir,
            log_file=args.log_file,
            pid_file=args.pid_file or run_dir / "tritonserver.pid",
            python_venv=args.python_venv,
            extra_args=extra,
            stop_at_exit=False,
            watchdog=not args.no_watchdog,
            exit_timeout_s=args.exit_timeout,
        )
        if server.pid_file is not None and server.pid_file.exists():
            old = server.pid_file.read_text().strip()
            if old.isdigit() and process_alive(int(old)) and is_tritonserver(int(old)):
                raise ConfigError(f"tritonserver already running (pid {old}, {server.pid_file})")
        server.start(timeout=args.timeout)
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; server stopped", file=sys.stderr)
        return 130
    watchdog = server.watchdog_process.pid if server.watchdog_process else "off"
    print(
        f"ready: tritonserver pid {server.pid} in {server.startup_seconds:.1f} s, "
        f"http {server.http_url}, grpc {server.grpc_url}, metrics {server.metrics_url}; "
        f"log {server.log_file}; watchdog pid {watchdog}; "
        f"stop: python -m deploy.triton.launch stop --pid-file "
        f"{server.pid_file}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
