"""The local Triton launcher against a real tritonserver: API, CLI round trip, failures."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from deploy.triton.launch import (
    StartError,
    group_members,
    process_alive,
    summarize_log,
)
from tests.conftest import free_port, triton_server
from tests.integration.add_one import EXECUTE, QUIET_MODEL, make_repository

REPO_ROOT = Path(__file__).resolve().parents[2]

MODEL = (
    """
import sys
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        # Record which environment the stub runs in: the test checks it is the venv.
        info = f"{sys.prefix}\\n{np.__version__}\\n"
        (Path(args["model_repository"]) / "python_env.txt").write_text(info)
"""
    + EXECUTE
)

BROKEN_MODEL = """
class TritonPythonModel:
    def initialize(self, args):
        raise RuntimeError("boom at init")
"""


def port_free(port: int) -> bool:
    """Bindable again (SO_REUSEADDR, as a server binds: TIME_WAIT leftovers do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@contextmanager
def occupied(port: int) -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        yield sock


def start_args(repository: Path, ports: list[int], run_dir: Path, timeout: str = "20") -> list[str]:
    """`start` of ``repository`` on the three ``ports`` (http, grpc, metrics) into ``run_dir``."""
    http, grpc, metrics = (str(port) for port in ports)
    return [
        *("start", "--model-repository", str(repository)),
        *("--http-port", http, "--grpc-port", grpc, "--metrics-port", metrics),
        *("--run-dir", str(run_dir), "--timeout", timeout),
    ]


def launch(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploy.triton.launch", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture()
def repository(tmp_path: Path) -> Path:
    return make_repository(tmp_path / "model_repository", MODEL)


def test_api_serves_a_python_model_over_grpc_and_stops_cleanly(
    repository: Path, tmp_path: Path
) -> None:
    import tritonclient.grpc as grpcclient

    run_dir, pid_file = tmp_path / "run", tmp_path / "run" / "triton.pid"
    server = triton_server(repository, run_dir=run_dir, host="127.0.0.1", pid_file=pid_file)
    http, grpc, metrics = server.ports
    with server:
        pid = server.pid
        assert pid is not None and server.running
        assert pid_file.read_text().strip() == str(pid)
        assert server.grpc_url == f"127.0.0.1:{grpc}"
        assert server.startup_seconds is not None and server.startup_seconds < 30
        print(f"tritonserver ready in {server.startup_seconds:.2f} s")

        client = grpcclient.InferenceServerClient(url=server.grpc_url)
        try:
            assert client.is_model_ready("add_one")
            data = np.array([1, 2, 3, 41], dtype=np.int32)
            inp = grpcclient.InferInput("INPUT0", list(data.shape), "INT32")
            inp.set_data_from_numpy(data)
            result = client.infer("add_one", [inp])
            np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), data + 1)
        finally:
            client.close()

        # The stub ran the model in this virtualenv (numpy < 2), not the base interpreter.
        prefix, numpy_version = (repository / "add_one" / "python_env.txt").read_text().split()
        assert Path(prefix).resolve() == Path(sys.prefix).resolve()
        assert int(numpy_version.split(".")[0]) < 2
        assert len(group_members(pid)) >= 2  # the server and the model's stub

    assert not server.running
    assert not process_alive(pid)
    assert group_members(pid) == []
    assert not pid_file.exists()
    assert all(port_free(port) for port in (http, grpc, metrics))


def test_cli_start_stop_round_trip(repository: Path, tmp_path: Path) -> None:
    http, grpc, metrics = free_port(), free_port(), free_port()
    run_dir, pid_file = tmp_path / "run", tmp_path / "server.pid"
    start = [
        *start_args(repository, [http, grpc, metrics], run_dir, "30"),
        "--pid-file",
        str(pid_file),
    ]
    started = launch(*start)
    pid = int(pid_file.read_text()) if pid_file.exists() else None
    watchdog_pid_file = tmp_path / "server.watchdog.pid"
    try:
        assert started.returncode == 0, started.stderr
        assert started.stdout.count("\n") == 1 and started.stdout.startswith("ready: ")
        assert pid is not None and process_alive(pid)
        assert (run_dir / "tritonserver.log").exists()
        assert (run_dir / "backends" / "python" / "triton_python_backend_stub").is_file()
        watchdog = int(watchdog_pid_file.read_text())
        assert process_alive(watchdog)

        stopped = launch("stop", "--pid-file", str(pid_file))
        assert stopped.returncode == 0, stopped.stderr
        assert stopped.stdout.startswith(f"stopped tritonserver pid {pid}")
        assert not pid_file.exists() and not watchdog_pid_file.exists()
        assert not process_alive(pid) and group_members(pid) == []
        assert not process_alive(watchdog)
        assert all(port_free(port) for port in (http, grpc, metrics))

        again = launch("stop", "--pid-file", str(pid_file))
        assert again.returncode == 0 and "nothing to stop" in again.stdout

        # a restart appends to the log: the first run's lines are kept
        restarted = launch(*start)
        pid = int(pid_file.read_text()) if pid_file.exists() else None
        assert restarted.returncode == 0, restarted.stderr
        log = (run_dir / "tritonserver.log").read_text()
        assert log.count("--- launch.py: tritonserver starting") == 2
        assert log.count("successfully loaded 'add_one'") == 2
        assert launch("stop", "--pid-file", str(pid_file)).returncode == 0
    finally:
        if pid is not None and group_members(pid):
            launch("stop", "--pid-file", str(pid_file), "--timeout", "5")


def test_missing_repository_is_one_line_exit_2(tmp_path: Path) -> None:
    result = launch("start", "--model-repository", str(tmp_path / "nope"), "--timeout", "5")
    assert result.returncode == 2
    line = one_error_line(result)
    assert "model repository" in line and "does not exist" in line


def test_taken_port_is_reported_before_launch(repository: Path, tmp_path: Path) -> None:
    http, grpc, metrics = free_port(), free_port(), free_port()
    with occupied(grpc):
        began = time.monotonic()
        result = launch(*start_args(repository, [http, grpc, metrics], tmp_path / "run"))
        assert time.monotonic() - began < 10
    assert result.returncode == 2
    line = one_error_line(result)
    assert f"127.0.0.1:{grpc}" in line and "already in use" in line
    assert not (tmp_path / "run" / "tritonserver.pid").exists()


def test_taken_port_seen_by_tritonserver_fails_fast(repository: Path, tmp_path: Path) -> None:
    """Without the pre-check (a race), Triton itself exits; the error names the port."""
    server = triton_server(repository, run_dir=tmp_path / "run", check_ports=False)
    http = server.http_port
    with occupied(http):
        began = time.monotonic()
        with pytest.raises(StartError) as excinfo:
            server.start(timeout=20)
        assert time.monotonic() - began < 15
    message = str(excinfo.value)
    assert "\n" not in message
    assert "exited with code" in message
    assert f"'127.0.0.1:{http}' already in use" in message
    assert "CUDA" not in message and "NVML" not in message
    assert server.pid is not None and group_members(server.pid) == []


def test_model_that_fails_to_load_exits_1_naming_the_cause(tmp_path: Path) -> None:
    repository = make_repository(tmp_path / "model_repository", BROKEN_MODEL)
    http, grpc, metrics = free_port(), free_port(), free_port()
    result = launch(*start_args(repository, [http, grpc, metrics], tmp_path / "run"))
    assert result.returncode == 1
    line = one_error_line(result)
    assert "boom at init" in line and "tritonserver.log" in line
    assert not (tmp_path / "run" / "tritonserver.pid").exists()


def test_harmless_cpu_messages_are_not_reported_as_errors(tmp_path: Path) -> None:
    log = tmp_path / "tritonserver.log"
    log.write_text(
        'W1127 21:14:53.975501 1 pinned_memory_manager.cc:273] "Unable to allocate pinned system '
        'memory, pinned memory pool will not be available: CUDA driver version is insufficient"\n'
        'E1127 21:14:53.975640 1 server.cc:241] "CudaDriverHelper has not been initialized."\n'
        "Error: Failed to initialize NVML\n"
        'E1127 21:14:53.975641 1 cuda.cc:1] "unable to create stream: no CUDA-capable device"\n'
        'I1127 21:14:55.315597 1 grpc_server.cc:2558] "Started GRPCInferenceService"\n'
    )
    summary = summarize_log(log)
    assert summary.startswith("no error logged") and "Started GRPCInferenceService" in summary
    with log.open("a") as handle:
        handle.write('E1127 21:14:56.1 1 main.cc:257] "failed to start HTTP service: boom"\n')
    assert summarize_log(log) == "failed to start HTTP service: boom"


def time_to_recover(request: Callable[[], bool]) -> tuple[float, dict[int, list[int]]]:
    """Seconds until the first of 50 successes in a row (30 at most), and per-second counts."""
    began = time.monotonic()
    outcomes: list[tuple[float, bool]] = []
    while time.monotonic() - began < 30:
        outcomes.append((time.monotonic() - began, request()))
        if len(outcomes) >= 50 and all(ok for _, ok in outcomes[-50:]):
            break
    seconds: dict[int, list[int]] = {}
    for at, ok in outcomes:
        seconds.setdefault(int(at), [0, 0])[ok] += 1
    recovered = len(outcomes) >= 50 and all(ok for _, ok in outcomes[-50:])
    return (outcomes[-50][0] if recovered else float("inf")), seconds


def test_a_killed_model_instance_is_replaced_without_a_restart(tmp_path: Path) -> None:
    """kill -9 of one python-backend stub under sequential requests: the watchdog reloads the
    model, fresh instances serve within seconds, and shutdown does not wait 30 s."""
    import tritonclient.grpc as grpcclient

    from deploy.triton.watchdog import stubs_of

    repository = make_repository(tmp_path / "model_repository", QUIET_MODEL)
    config = repository / "add_one" / "config.pbtxt"
    config.write_text(config.read_text().replace("count: 1", "count: 2"))
    an_hour_ago = time.time() - 3600  # as an exported repository: files older than the server
    for path in [repository, *repository.rglob("*")]:
        os.utime(path, (an_hour_ago, an_hour_ago))
    server = triton_server(
        repository,
        run_dir=tmp_path / "run",
        # no __pycache__ written into the model's directory: its files stay unchanged, as in a
        # served repository, and a plain load request would not replace anything
        env={"PYTHONDONTWRITEBYTECODE": "1"},
    )
    data = np.array([1, 2, 3], dtype=np.int32)

    def request(client: grpcclient.InferenceServerClient) -> bool:
        inp = grpcclient.InferInput("INPUT0", [3], "INT32")
        inp.set_data_from_numpy(data)
        try:
            result = client.infer("add_one", [inp], client_timeout=3)
        except grpcclient.InferenceServerException:
            return False
        return bool((result.as_numpy("OUTPUT0") == data + 1).all())

    with server:
        assert server.pid is not None
        client = grpcclient.InferenceServerClient(url=server.grpc_url)
        stubs = [s for s in stubs_of(server.pid) if not s.dead]
        assert len(stubs) == 2 and all(request(client) for _ in range(10))
        assert server.log_file is not None
        deadline = time.monotonic() + 10
        while "watchdog" not in server.log_file.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)  # the watchdog has had its first look

        retired: set[int] = set()  # the old instances' processes (Triton leaves them idle)
        for kill in (1, 2):  # a second death too: a plain load request would do nothing then
            serving = [s for s in stubs_of(server.pid) if not s.dead and s.pid not in retired]
            retired |= {s.pid for s in serving}
            os.kill(serving[0].pid, signal.SIGKILL)
            recovered, seconds = time_to_recover(lambda: request(client))
            print(f"kill {kill}: [failed, ok] per second {seconds}")
            print(f"killed stub replaced; 50 good requests in a row from {recovered:.1f} s on")
            assert recovered < 15, seconds
        client.close()
        log = server.log_file.read_text()
        assert log.count("died: reloading 'add_one'") == 2 and "reloaded 'add_one'" in log
        stopping = time.monotonic()
        assert server.stop() == "terminated"
        took = time.monotonic() - stopping
    assert took < 12, f"shutdown took {took:.1f} s"
