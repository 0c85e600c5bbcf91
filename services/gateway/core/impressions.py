"""What /recommend answers showed, kept in memory until a background flush writes it to Redis.

The route hands every answer to `ImpressionLog.offer`: a counter per (A/B arm, model version)
and, for a sampled answer, one dict insert; no I/O and no task on the request path. The
flusher (core/attribution.py) takes the pending batch every GATEWAY_ATTRIBUTION_FLUSH_S and
writes it in one pipeline; until that write is done a click is matched against the batch here.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from services.gateway.core.config import Settings
from services.gateway.core.metrics import Metrics

NO_SPLIT_ARM = "all"
"""The arm of every user when GATEWAY_AB is not set."""

ArmVersion = tuple[str, str]
"""(A/B arm, model version label)."""


@dataclass(frozen=True)
class Impression:
    user_id: int
    arm: str
    """The version GATEWAY_AB assigns the user, or NO_SPLIT_ARM."""
    model_version: str
    """The version that answered (`latest` when Triton named none)."""
    item_ids: tuple[int, ...]
    """Best first: an item's index is its position."""


@dataclass
class Batch:
    impressions: dict[str, Impression] = field(default_factory=dict)
    """By request id: the sampled answers."""
    requests: Counter[ArmVersion] = field(default_factory=Counter)
    """Every answer, sampled or not."""

    @property
    def empty(self) -> bool:
        return not self.impressions and not self.requests


class Sampler:
    """Takes a `share` of the answers, then at most `max_per_s` a second of those (a token
    bucket holding one second's worth); max_per_s 0: no cap."""

    def __init__(
        self,
        share: float,
        max_per_s: float,
        clock: Callable[[], float] = time.monotonic,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._share = share
        self._rate = max_per_s
        self._burst = max(1.0, max_per_s)
        self._tokens = self._burst
        self._clock = clock
        self._draw = draw
        self._last = clock()

    def take(self) -> bool:
        if self._share <= 0 or (self._share < 1 and self._draw() >= self._share):
            return False
        if self._rate <= 0:
            return True
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class ImpressionLog:
    def __init__(self, settings: Settings, metrics: Metrics, sampler: Sampler | None = None):
        self._split = settings.ab_split
        self._sampler = sampler or Sampler(
            settings.attribution_share, settings.attribution_max_per_s
        )
        self._max_pending = settings.attribution_max_pending
        self._dropped = metrics.impressions_dropped.labels("buffer_full")
        self._pending = Batch()
        self._in_flight: dict[str, Impression] = {}

    def arm_of(self, user_id: int) -> str:
        return NO_SPLIT_ARM if self._split is None else str(self._split.version_for(user_id))

    def offer(
        self, request_id: str, user_id: int, model_version: str, item_ids: Sequence[int]
    ) -> None:
        """Count the answer; keep what it showed if the sampler takes it."""
        arm = self.arm_of(user_id)
        self._pending.requests[(arm, model_version)] += 1
        if not item_ids or not self._sampler.take():
            return
        if len(self._pending.impressions) >= self._max_pending:
            self._dropped.inc()
            return
        self._pending.impressions[request_id] = Impression(
            user_id, arm, model_version, tuple(item_ids)
        )

    def shown(self, request_id: str) -> Impression | None:
        """The answer's impression while it waits for (or is in) its write; else None."""
        return self._pending.impressions.get(request_id) or self._in_flight.get(request_id)

    def take(self) -> Batch:
        """The pending batch, for a write; its impressions stay visible to `shown` until
        `written()`."""
        batch, self._pending = self._pending, Batch()
        self._in_flight = batch.impressions
        return batch

    def written(self) -> None:
        self._in_flight = {}
