"""Readiness: at least one Triton replica serves the model and its model answers, Redis answers,
and Redis holds the build the ready replicas serve.

Triton's own word (`is_model_ready`) stays true while the model's python process is dead and
every inference waits out its timeout, so a replica counts as ready only while its model also
answers real inferences (`ModelAnswers`). The choice:

- Every ranking a replica returns is recorded: /recommend's calls and explain's (through the
  pool's clients, `ModelAnswers.clients`) and the probes below. One clock read and one list store
  per call, nothing else on the request path; failed calls are not recorded.
- A replica whose model returned no ranking for GATEWAY_READY_PROBE_S (0.2 s) is asked one real
  question through the same client: an inference for PROBE_USER_ID, an id no build knows (the
  executor answers it with the popular items; it reads Redis and writes nothing), given at most
  GATEWAY_READY_TIMEOUT_S (0.5 s). Under traffic the requests keep the record fresh and no probe
  is sent; idle, each replica gets about 1 / GATEWAY_READY_PROBE_S inferences a second (counted
  in gateway_triton_call_seconds, not in the request metrics).
- A model answers while its last ranking is at most GATEWAY_READY_PROBE_S +
  GATEWAY_READY_TIMEOUT_S old (0.7 s): one that stops answering shows in /readyz as `triton:
  model does not answer` within that time, with traffic or without, and counts again from its
  first answer. A model that answers some requests still answers (another process may serve
  them); only no answer at all says it cannot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from services.ensemble.contract import ONLINE_BUILD_KEY
from services.gateway.core.online_store import OnlineStoreUnavailable
from services.gateway.core.replicas import READY, ReplicaClient, ReplicaState
from services.gateway.core.standby import PROBE_USER_ID
from services.gateway.core.triton import ModelState, Ranking, TritonFailed, TritonUnavailable

logger = logging.getLogger("services.gateway.readiness")
T = TypeVar("T")

NOT_ANSWERING = "model does not answer"
"""A replica's state (and, after `triton: `, the problem) while its model returns no ranking."""
STANDBY_ANSWERS = "ready, the standby answers"
"""A replica's state while its rankings come from the standby model (core/standby.py): it
counts as ready (every request is answered), and says that the answers are the standby's."""


class ModelSource(Protocol):
    async def replica_states(self, timeout_s: float) -> list[ReplicaState]: ...


class BuildSource(Protocol):
    async def build_id(self) -> str | None: ...


class AnswerSource(Protocol):
    def answering(self, replica: int) -> bool: ...

    def standby(self, replica: int) -> bool: ...


@dataclass(frozen=True)
class Report:
    problems: list[str]
    """One short phrase per failed check, without addresses; empty when ready."""
    replicas: list[ReplicaState]


async def check(
    model: ModelSource,
    store: BuildSource,
    timeout_s: float,
    answers: AnswerSource | None = None,
    max_k: int | None = None,
) -> Report:
    """The checks run concurrently, each given at most timeout_s (addresses go to the log).
    answers: whether each replica's model answers inferences (None: Triton's word only).
    max_k: the gateway's k maximum; a ready replica whose model's k differs is a problem
    (core/answer_size.py: a gateway started before Triton said, or a model changed since)."""
    states, held = await asyncio.gather(
        model.replica_states(timeout_s),
        _within(store.build_id(), timeout_s),
        return_exceptions=True,
    )
    if isinstance(states, BaseException):
        raise states
    if answers is not None:
        states = [_answered(state, answers) for state in states]
    ready = [state for state in states if state.state in (READY, STANDBY_ANSWERS)]
    found = (
        [] if ready else [f"triton: {phrase}" for phrase in dict.fromkeys(s.state for s in states)]
    )
    if max_k is not None:
        served_k = dict.fromkeys(s.answer_size for s in ready if s.answer_size not in (None, max_k))
        found += [
            f"triton: the model answers k={k}, the gateway serves k up to {max_k} "
            "(restart the gateway, or set GATEWAY_MAX_K to match)"
            for k in served_k
        ]
    if isinstance(held, TimeoutError):
        found.append(f"redis: no answer within {timeout_s:g} s")
    elif isinstance(held, OnlineStoreUnavailable):
        logger.warning("readiness: %s", held)
        found.append("redis: unreachable")
    elif isinstance(held, BaseException):
        raise held
    elif held is None:
        found.append(f"redis: holds no build's online state ({ONLINE_BUILD_KEY} missing)")
    else:
        served = dict.fromkeys(s.build_id for s in ready if s.build_id not in (None, held))
        found += [f"redis: holds build {held}, the model serves build {build}" for build in served]
    return Report(problems=found, replicas=states)


def _answered(state: ReplicaState, answers: AnswerSource) -> ReplicaState:
    """A replica Triton calls ready is ready only while its model answers (the standby's
    answers count, and say so)."""
    if state.state != READY:
        return state
    if not answers.answering(state.replica):
        return replace(state, state=NOT_ANSWERING)
    return replace(state, state=STANDBY_ANSWERS) if answers.standby(state.replica) else state


async def _within(call: Awaitable[T], timeout_s: float) -> T:
    async with asyncio.timeout(timeout_s):
        return await call


class ModelAnswers:
    """When each replica's model last returned a ranking, and the probes that keep that known
    while no request asks (the module's doc says why and what it costs)."""

    def __init__(
        self,
        clients: Sequence[ReplicaClient],
        probe_s: float,
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """clients: one per replica, in GATEWAY_TRITON_URL's order. probe_s: the longest a
        model goes unasked; timeout_s: a probe's longest wait."""
        self._probe_s, self._timeout_s, self._clock = probe_s, timeout_s, clock
        self._last = [-math.inf] * len(clients)
        self._silent = [False] * len(clients)
        self._standby = [False] * len(clients)
        self.clients = [RecordingClient(client, at, self) for at, client in enumerate(clients)]
        """The clients to serve requests with: each ranking they return is recorded."""
        self._probes: list[asyncio.Task[None]] = []

    @property
    def fresh_s(self) -> float:
        """How old a model's last answer may be while it still counts as answering."""
        return self._probe_s + self._timeout_s

    def record(self, replica: int, standby: bool = False) -> None:
        """Replica `replica`'s model (the standby, if `standby`) just returned a ranking (O(1):
        the request path)."""
        self._last[replica] = self._clock()
        self._standby[replica] = standby

    def standby(self, replica: int) -> bool:
        """Whether the replica's last ranking came from the standby model."""
        return self._standby[replica]

    def silent_s(self, replica: int) -> float:
        """Seconds since the replica's model last answered (inf: never)."""
        return self._clock() - self._last[replica]

    def answering(self, replica: int) -> bool:
        return self.silent_s(replica) <= self.fresh_s

    def start(self) -> None:
        """Start one probe loop per replica (needs the running event loop)."""
        loop = asyncio.get_running_loop()
        self._probes = [loop.create_task(self._watch(client)) for client in self.clients]

    async def close(self) -> None:
        for task in self._probes:
            task.cancel()
        for task in self._probes:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch(self, client: RecordingClient) -> None:
        while True:
            silent_s = self.silent_s(client.index)
            if silent_s < self._probe_s:
                await asyncio.sleep(self._probe_s - silent_s)
                continue
            started = self._clock()
            failure = await self._probe(client)
            self._note(client.index, failure)
            if failure is not None:  # at most one probe per probe_s, even when they fail fast
                await asyncio.sleep(max(0.0, started + self._probe_s - self._clock()))

    async def _probe(self, client: RecordingClient) -> str | None:
        """None once the model answered (recorded by the client), else why not."""
        try:
            await client.rank(PROBE_USER_ID, self._timeout_s)
        except TritonUnavailable as exc:
            return exc.outcome
        except TritonFailed:
            return "error"
        except Exception:  # a bug must not end the loop: readiness would stay stale forever
            logger.exception("readiness probe of Triton replica %d failed", client.index)
            return "probe error"
        return None

    def _note(self, replica: int, failure: str | None) -> None:
        """Log when a replica's model stops answering and when it answers again."""
        silent = failure is not None and not self.answering(replica)
        if silent == self._silent[replica]:
            return
        self._silent[replica] = silent
        if silent:
            since = self.silent_s(replica)
            quiet = "yet" if math.isinf(since) else f"for {since:.1f} s"
            logger.warning(
                "Triton replica %d: %s (no ranking %s; probe: %s)",
                *(replica, NOT_ANSWERING, quiet, failure),
            )
        else:
            logger.warning("Triton replica %d: the model answers again", replica)


class RecordingClient:
    """A replica's client that records each ranking it returns in ModelAnswers."""

    def __init__(self, client: ReplicaClient, index: int, answers: ModelAnswers) -> None:
        self._client, self.index, self._answers = client, index, answers

    async def rank(
        self,
        user_id: int,
        timeout_s: float | None = None,
        version: int | None = None,
        explain: bool = False,
    ) -> Ranking:
        if explain:
            ranking = await self._client.rank(user_id, timeout_s, version, explain=True)
        else:
            ranking = await self._client.rank(user_id, timeout_s, version)
        self._answers.record(self.index, ranking.standby)
        return ranking

    async def model_state(self) -> ModelState:
        return await self._client.model_state()

    async def close(self) -> None:
        await self._client.close()
