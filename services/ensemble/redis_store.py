"""Redis connections of the serving graph and the build, and their failures as one retryable error.

Every stage that talks to Redis opens its client here (timeouts from the settings) and wraps
its calls in `unavailable_on_redis_errors`, so an outage reaches the executor as
`OnlineStoreUnavailable` (Triton status UNAVAILABLE), never as a driver exception that names
internal addresses.

A `redis+cluster://` URL (see `redis_url`) gives a `redis.cluster.RedisCluster`, created on
first use: a cluster client asks the cluster for its slots when it is made, and the graph is
also built where no Redis runs (the export). Non-transactional pipelines work on both clients
(the cluster's sends one batch per node); multi-key commands need their keys in one slot, which
the key names' hash tags (`contract.py`) ensure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException

from services.ensemble.redis_url import is_cluster, parse_cluster
from services.ensemble.settings import EnsembleSettings

REDIS_ERRORS = (redis.RedisError, RedisClusterException)
"""What the clients raise when Redis fails (the cluster client's own exception is not a
RedisError in redis-py 4.2)."""


class OnlineStoreUnavailable(Exception):
    """The online store cannot answer this request now; the client may retry."""


class BuildNotOnline(OnlineStoreUnavailable):
    """Redis is reachable but does not hold the exported build's state (e.g. restarted empty)."""

    def __init__(self, expected: str, held: str | None) -> None:
        holds = f"it holds build {held}" if held else "it holds no build"
        super().__init__(f"online store does not hold build {expected} ({holds})")
        self.expected = expected
        self.held = held


def connect(settings: EnsembleSettings) -> Any:
    """A client of settings.redis_url: `redis.Redis`, or a cluster client for a cluster URL."""
    return client_from_url(settings.redis_url, settings.redis_timeout_s, settings.redis_timeout_s)


def client_from_url(
    url: str, timeout_s: float | None = None, connect_timeout_s: float | None = None
) -> Any:
    """`redis.Redis.from_url(url)`, or for `redis+cluster://` a RedisCluster made on first use."""
    timeouts = {"socket_timeout": timeout_s, "socket_connect_timeout": connect_timeout_s}
    if not is_cluster(url):
        return redis.Redis.from_url(url, **timeouts)
    target = parse_cluster(url)

    def make() -> RedisCluster:
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
            username=target.username,
            password=target.password,
            ssl=target.tls,
            **timeouts,
        )

    return LazyClient(make)


class LazyClient:
    """Stands for the client `make` returns, made at the first attribute asked for."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._make()
        return getattr(self._client, name)


@contextmanager
def unavailable_on_redis_errors() -> Iterator[None]:
    """Turn the Redis client's errors into OnlineStoreUnavailable, without its message (which
    holds the server's address)."""
    try:
        yield
    except REDIS_ERRORS as exc:
        raise OnlineStoreUnavailable(f"online store unavailable ({type(exc).__name__})") from exc


def raise_first_error(replies: list[Any]) -> None:
    """Raise the first error among a pipeline's replies (`execute(raise_on_error=False)`)."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply


def check_build(held: bytes | None, expected: str) -> None:
    """Raise BuildNotOnline unless Redis' build marker (ONLINE_BUILD_KEY) is `expected`."""
    value = held.decode() if held else None
    if value != expected:
        raise BuildNotOnline(expected, value)


def delete_each(client: Any, keys: Iterable[bytes | str], batch: int = 1000) -> int:
    """DEL every key, one command per key in pipelined batches (a cluster's keys may each be in
    another slot, where one multi-key DEL fails); the number deleted."""
    return sum(_each(client, "delete", keys, batch))


def count_existing(client: Any, keys: Iterable[bytes | str], batch: int = 1000) -> int:
    """How many of `keys` exist, one pipelined EXISTS per key."""
    return sum(_each(client, "exists", keys, batch))


def _each(client: Any, command: str, keys: Iterable[bytes | str], batch: int) -> Iterator[int]:
    keys = list(keys)
    for start in range(0, len(keys), batch):
        with client.pipeline(transaction=False) as pipe:
            for key in keys[start : start + batch]:
                getattr(pipe, command)(key)
            yield from (int(result) for result in pipe.execute())
