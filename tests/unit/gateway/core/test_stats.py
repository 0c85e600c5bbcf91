"""The live panel's summary of the gateway's own metrics: window, rate, quantiles, errors."""

from __future__ import annotations

import pytest

from services.gateway.core.metrics import Metrics
from services.gateway.core.stats import RecentStats, quantile


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def answer(metrics: Metrics, seconds: float, status: int, version: str = "1") -> None:
    """What ObserveRequests records for one /recommend answer."""
    label = version if status == 200 else "none"
    metrics.request_seconds.labels("/recommend", label).observe(seconds)
    metrics.requests.labels("/recommend", str(status), label).inc()


def test_quantile_interpolates_within_the_bucket() -> None:
    buckets = {0.01: 0.0, 0.02: 100.0, float("inf"): 100.0}
    assert quantile(0.5, buckets) == pytest.approx(0.015)
    assert quantile(0.99, buckets) == pytest.approx(0.0199)
    assert quantile(0.5, {float("inf"): 0.0}) is None
    assert quantile(0.99, {0.01: 1.0, float("inf"): 10.0}) == 0.01  # past the last bound


def test_summary_covers_the_requests_since_the_start_then_the_window() -> None:
    metrics, clock = Metrics(), Clock()
    recent = RecentStats(metrics.registry, window_s=60, clock=clock)
    for _ in range(98):
        answer(metrics, 0.004, 200)
    answer(metrics, 0.3, 503)
    answer(metrics, 0.001, 422)
    metrics.requests.labels("/healthz", "200", "none").inc()  # another route: not counted
    clock.now += 10
    first = recent.summary()
    assert first.window_s == 10 and first.requests == 100 and first.requests_per_s == 10
    assert first.errors == 1 and first.client_errors == 1
    assert 2.5 < first.p50_ms < 5  # 99 of 100 took at most 5 ms: p99 at that bound
    assert first.p99_ms == pytest.approx(5.0)
    assert first.model_versions == {"1": 98}

    clock.now += 30  # nothing new: the window is the 30 s since the last summary
    assert recent.summary().requests == 100  # still within 60 s of the first snapshot's base
    clock.now += 100
    for _ in range(20):
        answer(metrics, 0.02, 200, version="2")
    quiet = recent.summary()
    assert quiet.requests == 20 and quiet.errors == 0
    assert quiet.model_versions == {"2": 20}
    assert quiet.window_s == pytest.approx(100)


def test_summary_without_requests_has_no_quantiles() -> None:
    recent = RecentStats(Metrics().registry, clock=Clock())
    summary = recent.summary()
    assert summary.requests == 0 and summary.p50_ms is None and summary.p99_ms is None
