"""Several Triton replicas behind one gateway: requests go round robin over the replicas that are
up; a replica whose call fails at the transport level (unreachable, gone, its model unloading) is
skipped until a background probe finds its model ready again (probes back off from
GATEWAY_REPLICA_BACKOFF_S to GATEWAY_REPLICA_BACKOFF_MAX_S); such a failed request is retried
once on another replica within what is left of the request's timeout."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from services.gateway.core.config import Settings
from services.gateway.core.metrics import Metrics
from services.gateway.core.triton import (
    ModelState,
    Ranking,
    Recommender,
    TritonFailed,
    TritonUnavailable,
)

logger = logging.getLogger("services.gateway.replicas")

RETRY_ON_ANOTHER = frozenset({"unavailable", "model_unavailable"})
"""Outcomes that say the replica, not the request, failed: worth one try elsewhere. Not
`timeout`: it has used the request's whole budget."""
PROBE_TICK_S = 0.05
READY = "ready"


class ReplicaClient(Protocol):
    async def rank(
        self,
        user_id: int,
        timeout_s: float | None = None,
        version: int | None = None,
        explain: bool = False,
    ) -> Ranking: ...

    async def model_state(self) -> ModelState: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class ReplicaState:
    replica: int
    """The replica's index in GATEWAY_TRITON_URL (never its address)."""
    state: str
    """ready, model not ready, unreachable, or no answer within N s."""
    build_id: str | None = None
    answer_size: int | None = None
    """The model's k, when its config says (core/answer_size.py)."""


@dataclass
class Replica:
    index: int
    client: ReplicaClient
    up: bool = True
    backoff_s: float = 0.0
    probe_at: float = 0.0


async def replica_state(index: int, client: ReplicaClient, timeout_s: float) -> ReplicaState:
    """One replica's readiness, asked with at most timeout_s."""
    try:
        async with asyncio.timeout(timeout_s):
            model = await client.model_state()
    except TimeoutError:
        return ReplicaState(index, f"no answer within {timeout_s:g} s")
    except TritonUnavailable as exc:
        logger.info("Triton replica %d unavailable: %s", index, exc)
        return ReplicaState(index, "unreachable")
    if not model.ready:
        return ReplicaState(index, "model not ready")
    return ReplicaState(index, READY, model.build_id, model.answer_size)


class ReplicaPool:
    """The gateway's Triton: one Recommender (one gRPC channel) per configured address."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        clients: Sequence[ReplicaClient] | None = None,
        clock: Callable[[], float] = time.monotonic,
        served: Callable[[], int | None] = lambda: None,
    ) -> None:
        if clients is None:
            clients = [Recommender(settings, metrics, url) for url in settings.triton_urls]
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._served = served
        self._replicas = [Replica(index, client) for index, client in enumerate(clients)]
        self._split = settings.ab_split
        self._next = 0
        self._watcher: asyncio.Task[None] | None = None
        for replica in self._replicas:
            metrics.replica_up.labels(str(replica.index)).set(1)

    def start(self) -> None:
        """Start probing failed replicas (needs the running event loop)."""
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await asyncio.gather(*(replica.client.close() for replica in self._replicas))

    @property
    def up(self) -> list[int]:
        """Indexes of the replicas taking requests."""
        return [replica.index for replica in self._replicas if replica.up]

    def version_for(self, user_id: int) -> int | None:
        """The model version the A/B split assigns the user; without a split the served version
        (the rollout's switch), None when none is set (Triton's latest)."""
        return self._split.version_for(user_id) if self._split is not None else self._served()

    async def rank(self, user_id: int, explain: bool = False) -> Ranking:
        """The ranking from the next replica that is up, by the user's model version; after a
        transport-level failure, once more from another one if the request's timeout leaves
        time. TritonUnavailable when no replica is up. explain: ask for the explanation too."""
        version = self.version_for(user_id)
        deadline = self._clock() + self._settings.request_timeout_s
        first = self._pick(exclude=None)
        if first is None:
            raise TritonUnavailable("no Triton replica is up", "unavailable")
        try:
            timeout = self._settings.request_timeout_s
            return await self._call(first, user_id, timeout, version, explain)
        except TritonUnavailable as exc:
            left = deadline - self._clock()
            second = self._pick(exclude=first) if exc.outcome in RETRY_ON_ANOTHER else None
            if second is None or left <= 0:
                raise
            self._metrics.replica_retries.inc()
            logger.info(
                "retrying on replica %d after replica %d: %s", second.index, first.index, exc
            )
            return await self._call(second, user_id, left, version, explain)

    async def replica_states(self, timeout_s: float) -> list[ReplicaState]:
        """Every replica's readiness, asked concurrently; also updates which replicas are up."""
        states = await asyncio.gather(
            *(replica_state(r.index, r.client, timeout_s) for r in self._replicas)
        )
        for replica, state in zip(self._replicas, states, strict=True):
            if state.state == READY:
                self._mark_up(replica)
            elif state.state in ("unreachable", "model not ready"):
                self._mark_down(replica, state.state)
        return list(states)

    def _pick(self, exclude: Replica | None) -> Replica | None:
        count = len(self._replicas)
        for step in range(count):
            replica = self._replicas[(self._next + step) % count]
            if replica.up and replica is not exclude:
                self._next = (replica.index + 1) % count
                return replica
        return None

    async def _call(
        self,
        replica: Replica,
        user_id: int,
        timeout_s: float,
        version: int | None,
        explain: bool = False,
    ) -> Ranking:
        calls = self._metrics.replica_calls
        label = str(replica.index)
        try:
            if explain:
                ranking = await replica.client.rank(user_id, timeout_s, version, explain=True)
            else:
                ranking = await replica.client.rank(user_id, timeout_s, version)
        except TritonUnavailable as exc:
            calls.labels(label, exc.outcome).inc()
            if exc.outcome in RETRY_ON_ANOTHER:
                self._mark_down(replica, str(exc))
            raise
        except TritonFailed:
            calls.labels(label, "error").inc()
            raise
        calls.labels(label, "ok").inc()
        return ranking

    def _mark_down(self, replica: Replica, reason: str) -> None:
        if not replica.up:
            return
        replica.up = False
        replica.backoff_s = self._settings.replica_backoff_s
        replica.probe_at = self._clock() + replica.backoff_s
        self._metrics.replica_up.labels(str(replica.index)).set(0)
        logger.warning(
            "Triton replica %d skipped until it is ready again: %s", replica.index, reason
        )

    def _mark_up(self, replica: Replica) -> None:
        if replica.up:
            return
        replica.up = True
        self._metrics.replica_up.labels(str(replica.index)).set(1)
        logger.warning("Triton replica %d ready again", replica.index)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(PROBE_TICK_S)
            now = self._clock()
            due = [r for r in self._replicas if not r.up and r.probe_at <= now]
            if due:
                await asyncio.gather(*(self._probe(replica) for replica in due))

    async def _probe(self, replica: Replica) -> None:
        state = await replica_state(replica.index, replica.client, self._settings.ready_timeout_s)
        if state.state == READY:
            self._mark_up(replica)
            return
        replica.backoff_s = min(replica.backoff_s * 2, self._settings.replica_backoff_max_s)
        replica.probe_at = self._clock() + replica.backoff_s
