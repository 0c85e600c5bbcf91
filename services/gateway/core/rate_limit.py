"""A token bucket per client address, for the write routes: O(1) per request, and at most
`max_clients` buckets (the least recently seen address is forgotten first). Used from the
event loop only, so without locks."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from services.gateway.core.config import Settings


@dataclass(slots=True)
class Bucket:
    tokens: float
    refilled_at: float


class TokenBuckets:
    """`rate_per_s` requests per second per client, after a burst of up to `burst`."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        max_clients: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_s <= 0 or burst < 1 or max_clients < 1:
            raise ValueError("rate_per_s must be > 0, burst and max_clients >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    @classmethod
    def for_writes(cls, settings: Settings) -> TokenBuckets | None:
        """The write limit the settings ask for; None when GATEWAY_WRITE_RATE_PER_S is 0."""
        if settings.write_rate_per_s == 0:
            return None
        return cls(settings.write_rate_per_s, settings.write_burst, settings.write_rate_clients)

    def __len__(self) -> int:
        return len(self._buckets)

    def wait_s(self, client: str) -> float:
        """0 when `client` may go now (one token taken), else the seconds until it may."""
        now = self._clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._track(client, now)
        else:
            self._buckets.move_to_end(client)
            elapsed = now - bucket.refilled_at
            bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate_per_s)
            bucket.refilled_at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate_per_s

    def _track(self, client: str, now: float) -> Bucket:
        if len(self._buckets) >= self.max_clients:
            self._buckets.popitem(last=False)
        bucket = self._buckets[client] = Bucket(float(self.burst), now)
        return bucket
