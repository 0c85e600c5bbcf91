"""The standby model answers while the executor cannot (per Triton replica).

The executor's process can die (Triton then routes requests to it for seconds, each failing
after a second) or stall; its replacement takes as long as loading TensorFlow and the models.
The standby model (services/ensemble/standby.py) is a second, small process on the same Triton
that needs no TensorFlow: it orders the second source's candidates by the build's item-item,
segment and popularity parts. The choice, per request:

- the executor is asked first, for at most GATEWAY_STANDBY_AFTER_S (0.5 s: its answers take
  milliseconds, p99 under 50 ms at the throughput the benchmarks report);
- when it fails or is too slow, the standby answers within what is left of the request's
  timeout, and until the executor answers again every request goes to the standby at once: a
  probe (an inference for an unknown user, PROBE_USER_ID, with the whole request timeout) asks the
  executor every GATEWAY_STANDBY_PROBE_S, and its first answer hands the traffic back. A slow
  moment costs the probe's wait; a dead process, its replacement. No request waits on an
  executor known to be failing;
- if the standby fails too, the executor's failure is what the request reports (503).

Explain requests never go to the standby (it has no tower or DLRM to explain).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from services.gateway.core.config import Settings
from services.gateway.core.metrics import Metrics
from services.gateway.core.triton_errors import TritonFailed, TritonUnavailable

logger = logging.getLogger("services.gateway.standby")
T = TypeVar("T")
PROBE_USER_ID = -1
"""The user a probe asks for: no build knows a negative id, so the answer is the fallback (it
reads Redis and writes nothing)."""


class Failover:
    """One replica's executor-or-standby choice (the module's doc says how it decides).
    probe: asks the executor one question with the given timeout; returns once it answered."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        probe: Callable[[float], Awaitable[object]],
    ) -> None:
        self._after_s = settings.standby_after_s
        self._probe_s = settings.standby_probe_s
        self._probe_timeout_s = settings.request_timeout_s
        self._metrics = metrics
        self._probe = probe
        self._prober: asyncio.Task[None] | None = None

    @property
    def holding(self) -> bool:
        """Whether requests go straight to the standby (until a probe finds the executor)."""
        return self._prober is not None and not self._prober.done()

    async def rank(
        self,
        executor: Callable[[float], Awaitable[T]],
        standby: Callable[[float], Awaitable[T]],
        timeout_s: float,
    ) -> T:
        """executor / standby: a call given its longest wait in seconds."""
        if self.holding:
            return await self._standby(standby, timeout_s, "held")
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            return await executor(min(timeout_s, self._after_s))
        except TritonUnavailable as failure:
            self._hold(str(failure))
            left = timeout_s - (loop.time() - start)
            if left <= 0:
                raise
            try:
                return await self._standby(standby, left, "failed")
            except (TritonUnavailable, TritonFailed):
                raise failure from None

    async def close(self) -> None:
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober

    async def _standby(
        self, standby: Callable[[float], Awaitable[T]], timeout_s: float, reason: str
    ) -> T:
        answer = await standby(timeout_s)
        self._metrics.standby_answers.labels(reason).inc()
        return answer

    def _hold(self, reason: str) -> None:
        if self.holding:
            return
        logger.warning("the executor did not answer (%s): the standby model answers", reason)
        self._prober = asyncio.get_running_loop().create_task(self._probe_until_answered())

    async def _probe_until_answered(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await self._probe(self._probe_timeout_s)
            except (TritonUnavailable, TritonFailed):
                await asyncio.sleep(max(0.0, started + self._probe_s - loop.time()))
                continue
            logger.warning("the executor answers again: it takes the requests back")
            return
