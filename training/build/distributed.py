"""A dask.distributed client for the NVTabular fit and transform, when the build asks for one.

NVTabular's own way to go past one process: the workflow runs its statistics and transforms as
Dask tasks on whatever cluster the client points at: a `LocalCluster` of N worker processes on
this host, or an existing scheduler (`tcp://host:8786`) whose workers reach the same storage.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from training.errors import BuildError

if TYPE_CHECKING:
    from distributed import Client


@dataclass(frozen=True)
class DaskConfig:
    workers: int = 0
    """Worker processes of a local cluster; 0 = no cluster (single process)."""
    scheduler: str | None = None
    """Address of an existing scheduler; wins over `workers`."""
    connect_timeout_s: float = 10.0
    """How long to wait for the scheduler before the build fails."""

    @property
    def partitions(self) -> int:
        """Dask partitions per frame: two per local worker, so they all have work."""
        return max(1, 2 * self.workers) if self.enabled else 1

    @property
    def enabled(self) -> bool:
        return bool(self.scheduler) or self.workers > 0

    def describe(self) -> str:
        if self.scheduler:
            return f"dask scheduler {self.scheduler}"
        return f"dask local cluster, {self.workers} workers" if self.workers else "single process"


@contextlib.contextmanager
def dask_client(config: DaskConfig) -> Iterator[Client | None]:
    """The client for `config` (None when disabled), closed, with its local cluster, on exit."""
    from distributed import Client, LocalCluster

    if not config.enabled:
        yield None
        return
    if config.scheduler:
        with Client(config.scheduler, timeout=config.connect_timeout_s) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=config.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def check_scheduler(address: str, timeout_s: float = 2.0) -> None:
    """Fail fast, before any heavy import, when the scheduler's address is malformed or
    nothing listens there."""
    url = urlparse(address if "://" in address else f"tcp://{address}")
    if url.scheme not in ("tcp", "tls") or not url.hostname or not url.port:
        raise BuildError(f"--dask-scheduler must look like tcp://host:8786, got {address!r}")
    try:
        socket.create_connection((url.hostname, url.port), timeout=timeout_s).close()
    except OSError as exc:
        message = f"--dask-scheduler {address}: cannot connect ({exc.strerror or exc})"
        raise BuildError(message) from None
