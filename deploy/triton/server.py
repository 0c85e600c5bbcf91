"""One ``tritonserver`` process: start it detached, wait until it is ready, stop its group."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from deploy.triton.environment import find_tritonserver, prepare_backend_dir, python_env, server_env
from deploy.triton.errors import ConfigError, LaunchError, StartError
from deploy.triton.logs import LOG_TAIL_LINES, summarize_log
from deploy.triton.probes import is_ready, port_in_use, url_host
from deploy.triton.procs import terminate_group, write_pid_file
from deploy.triton.settings import TritonSettings, check_port
from deploy.triton.watchdog_process import start_watchdog, stop_watchdog, watchdog_pid_file


class TritonServer:
    """One ``tritonserver`` process for a model repository, in its own process group.

    ``start()`` returns once ``/v2/health/ready`` answers 200 (every model loaded); ``stop()``
    terminates the whole process group (server and python-backend stubs). Usable as a context
    manager. Unless ``stop_at_exit`` is False, a server still running at interpreter exit is
    stopped. Every value not given comes from ``settings`` (default: ``TRITON_*``).
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
        exit_timeout_s: int | None = None,
    ) -> None:
        self.settings = settings or TritonSettings.from_env()
        self.model_repository = Path(model_repository).absolute()
        self.host = self.settings.host if host is None else host
        self.http_port = self.settings.http_port if http_port is None else http_port
        self.grpc_port = self.settings.grpc_port if grpc_port is None else grpc_port
        self.metrics_port = self.settings.metrics_port if metrics_port is None else metrics_port
        self._run_dir = _absolute(run_dir)
        self._log_file = _absolute(log_file)
        self.pid_file = _absolute(pid_file)
        self.python_venv = _absolute(python_venv)
        self.extra_args = list(extra_args)
        self.extra_env = dict(extra_env or {})
        """Set in the server's environment, which its python models inherit (e.g. REDIS_URL)."""
        self.check_ports = check_ports
        self.stop_at_exit = stop_at_exit
        self.watchdog = watchdog
        """Run deploy.triton.watchdog beside the server: it reloads a model whose stub died."""
        self.exit_timeout_s = (
            self.settings.exit_timeout_s if exit_timeout_s is None else exit_timeout_s
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.watchdog_process: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None
        self._owns_run_dir = False

    # -- addresses -------------------------------------------------------------------------
    @property
    def http_url(self) -> str:
        return f"http://{url_host(self.host)}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        """``host:port``, the form ``tritonclient.grpc.InferenceServerClient(url=...)`` takes."""
        return f"{url_host(self.host)}:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{url_host(self.host)}:{self.metrics_port}/metrics"

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
    def watchdog_pid_file(self) -> Path | None:
        return watchdog_pid_file(self.pid_file) if self.pid_file is not None else None

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
            try:
                check_port(port)
            except ValueError as exc:
                raise ConfigError(f"{name} port: {exc}") from None
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
            *[f"--{kind}-address={self.host}" for kind in ("http", "grpc", "metrics")],
            f"--http-port={self.http_port}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-port={self.metrics_port}",
            *[f"{flag}={value}" for flag, value in defaults.items() if flag not in given],
            *self.extra_args,
        ]

    def start(self, timeout: float | None = None) -> TritonServer:
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
        self.process = self._spawn(
            self.command(binary, backends), {**server_env(env, server_root), **self.extra_env}
        )
        if self.pid_file is not None:
            write_pid_file(self.pid_file, self.process.pid)
        if self.stop_at_exit:
            atexit.register(self.stop)
        try:
            self._wait_ready(self.settings.ready_timeout_s if timeout is None else timeout)
        except BaseException:
            self._kill_and_forget()
            raise
        self.startup_seconds = time.monotonic() - began
        if self.watchdog:
            self.watchdog_process = start_watchdog(
                self.process.pid,
                url_host(self.host).strip("[]"),
                self.http_port,
                log_file,
                self.settings,
                self.watchdog_pid_file,
                self.model_repository,
            )
        return self

    def _spawn(self, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """The server in its own session and process group, its output appended to the log."""
        assert self.log_file is not None
        try:
            with self.log_file.open("ab") as log:  # a restart keeps the earlier runs' log
                stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
                log.write(f"--- launch.py: tritonserver starting at {stamp} UTC ---\n".encode())
                log.flush()
                return subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,  # own session and process group, detached
                )
        except OSError as exc:
            raise StartError(f"cannot run {command[0]}: {exc}") from None

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None and self.log_file is not None
        host = url_host(self.host).strip("[]")
        see = f"see tail -n {LOG_TAIL_LINES} {self.log_file}"
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise StartError(
                    f"tritonserver exited with code {code} before it was ready: "
                    f"{summarize_log(self.log_file)} ({see})"
                )
            if is_ready(host, self.http_port, self.settings.probe_timeout_s):
                return
            if time.monotonic() >= deadline:
                raise StartError(
                    f"tritonserver not ready after {timeout:g} s (pid {self.process.pid}); last "
                    f"message: {summarize_log(self.log_file)} ({see})"
                )
            time.sleep(0.1)

    def _kill_and_forget(self) -> None:
        """After a failed start: stop whatever runs, keep the log (the error points at it)."""
        if self.process is not None:
            timeout = self.settings.failed_start_stop_timeout_s
            terminate_group(self.process.pid, timeout=timeout, process=self.process)
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)
        atexit.unregister(self.stop)

    def _stop_watchdog(self) -> None:
        """First, so that it does not reload models while the server shuts down."""
        timeout = self.settings.watchdog_stop_timeout_s
        if self.watchdog_process is not None:
            terminate_group(
                self.watchdog_process.pid, timeout=timeout, process=self.watchdog_process
            )
            self.watchdog_process = None
        if self.watchdog_pid_file is not None:
            stop_watchdog(self.watchdog_pid_file, timeout)

    def stop(self, timeout: float | None = None) -> str:
        """Terminate the process group; 'terminated', 'killed' or 'gone' (never started)."""
        atexit.unregister(self.stop)
        self._stop_watchdog()
        if self.process is None:
            return "gone"
        timeout = self.settings.stop_timeout_s if timeout is None else timeout
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


def _absolute(path: str | os.PathLike[str] | None) -> Path | None:
    return Path(path).absolute() if path is not None else None
