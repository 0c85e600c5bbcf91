"""A real three-master Redis Cluster on free loopback ports, for the tests (a session fixture).

Each node is `redis-server --cluster-enabled yes`; `redis-cli --cluster create` assigns the
16,384 slots over the three, without replicas. The nodes are stopped afterwards.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import free_port, wait_for_ping

MASTERS = 3
BUS_OFFSET = 10_000
"""Redis Cluster's bus listens on the node's port + 10000: that port must be free too."""


def _port_with_free_bus(taken: set[int]) -> int:
    for _ in range(200):
        port = free_port()
        if port + BUS_OFFSET < 65536 and port not in taken and _free(port + BUS_OFFSET):
            return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class RedisCluster:
    """Three cluster nodes in `workdir`; `url` is the stack's `redis+cluster://` form."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.ports: list[int] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port)

    def start(self, timeout: float = 30.0) -> None:
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
        for _ in range(MASTERS):
            port = _port_with_free_bus(set(self.ports))
            self.ports.append(port)
            self.processes.append(subprocess.Popen(_node_command(server, port, self.workdir)))
        for port in self.ports:
            wait_for_ping(self.node(port), timeout)
        cli = shutil.which("redis-cli") or "/usr/bin/redis-cli"
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        self._wait_ok(timeout)

    def _wait_ok(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while any(self.node(p).cluster("info")["cluster_state"] != "ok" for p in self.ports):
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.1)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _node_command(server: str, port: int, workdir: Path) -> list[str]:
    return [
        server,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        f"nodes-{port}.conf",
        "--dir",
        str(workdir),
        "--save",
        "",
        "--appendonly",
        "no",
        "--logfile",
        str(workdir / f"{port}.log"),
    ]


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A started three-master Redis Cluster (empty), stopped after the session."""
    with tempfile.TemporaryDirectory() as workdir:
        cluster = RedisCluster(Path(workdir))
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.stop()
