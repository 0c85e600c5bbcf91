"""A summary of the last minutes of /recommend, from the gateway's own Prometheus metrics.

Prometheus counters and histograms only grow; the summary keeps snapshots of them taken when
it is asked (the page polls every few seconds) and reports the difference between now and the
oldest snapshot within the window: requests per second, p50/p99 (interpolated within the
latency histogram's buckets, as Prometheus' histogram_quantile does), errors, and the model
versions that answered. Before a second snapshot exists, the window starts at the process start.
Nothing is added to the request path.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

ROUTE = "/recommend"
WINDOW_S = 300.0
MAX_SNAPSHOTS = 2_000


@dataclass(frozen=True)
class Snapshot:
    at: float
    buckets: dict[float, float] = field(default_factory=dict)
    """Cumulative count of requests per latency bucket upper bound (le, seconds)."""
    statuses: dict[str, float] = field(default_factory=dict)
    versions: dict[str, float] = field(default_factory=dict)
    """Answers per model_version label (requests that got a model's answer)."""

    @property
    def count(self) -> float:
        return sum(self.statuses.values())


@dataclass(frozen=True)
class Summary:
    window_s: float
    requests: int
    requests_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int
    """Answers with a 5xx status."""
    client_errors: int
    """Answers with a 4xx status."""
    model_versions: dict[str, int]


def snapshot(registry: CollectorRegistry, at: float, route: str = ROUTE) -> Snapshot:
    """The route's cumulative latency buckets, answers per status and per model version."""
    buckets: dict[float, float] = {}
    statuses: dict[str, float] = {}
    versions: dict[str, float] = {}
    for metric in registry.collect():
        for sample in metric.samples:
            labels = sample.labels
            if labels.get("route") != route:
                continue
            if sample.name == "gateway_request_seconds_bucket":
                bound = float(labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
            elif sample.name == "gateway_requests_total":
                status = labels.get("status", "?")
                statuses[status] = statuses.get(status, 0.0) + sample.value
                version = labels.get("model_version")
                if version is not None and version != "none":
                    versions[version] = versions.get(version, 0.0) + sample.value
    return Snapshot(at, buckets, statuses, versions)


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """The q-quantile (seconds) of cumulative `buckets`, linear within a bucket; None if empty.
    Past the last finite bound, the last finite bound."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            share = (rank - below) / (count - below) if count > below else 1.0
            return lower + (bound - lower) * share
        lower, below = bound, count
    return lower


def _minus(now: dict[str, float], then: dict[str, float]) -> dict[str, float]:
    return {key: value - then.get(key, 0.0) for key, value in now.items()}


class RecentStats:
    """Snapshots of one registry; `summary()` reports the window up to now."""

    def __init__(
        self,
        registry: CollectorRegistry,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry
        self._window_s = window_s
        self._clock = clock
        self._snapshots: deque[Snapshot] = deque([Snapshot(clock())], maxlen=MAX_SNAPSHOTS)

    def summary(self) -> Summary:
        now = snapshot(self._registry, self._clock())
        while len(self._snapshots) > 1 and now.at - self._snapshots[1].at >= self._window_s:
            self._snapshots.popleft()  # the next one still spans the whole window
        then = self._snapshots[0]
        self._snapshots.append(now)
        span = max(now.at - then.at, 1e-9)
        statuses = _minus(now.statuses, then.statuses)
        buckets = {
            bound: count - then.buckets.get(bound, 0.0) for bound, count in now.buckets.items()
        }
        versions = _minus(now.versions, then.versions)
        requests = int(round(sum(statuses.values())))
        p50, p99 = (quantile(q, buckets) for q in (0.5, 0.99))
        return Summary(
            window_s=round(span, 3),
            requests=requests,
            requests_per_s=round(requests / span, 3),
            p50_ms=None if p50 is None else round(p50 * 1e3, 3),
            p99_ms=None if p99 is None else round(p99 * 1e3, 3),
            errors=int(sum(v for s, v in statuses.items() if s.startswith("5"))),
            client_errors=int(sum(v for s, v in statuses.items() if s.startswith("4"))),
            model_versions={v: int(n) for v, n in sorted(versions.items()) if n > 0},
        )
