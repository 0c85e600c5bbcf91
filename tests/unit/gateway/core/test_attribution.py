"""Matching a click to the answer it names, counting it once, CTR@k with its interval, the
Prometheus view of the counters and the background flush (the Redis edge stubbed; the real
one: test_attribution_store.py)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import pytest
from prometheus_client import generate_latest

from services.gateway.core.attribution import (
    ClickAttribution,
    ClickStatus,
    CountsCollector,
    ImpressionFlusher,
    LatestCounts,
    attribute_click,
    match,
    summarize,
)
from services.gateway.core.attribution_store import ArmCounts, Counts
from services.gateway.core.config import Settings
from services.gateway.core.impressions import Impression, ImpressionLog
from services.gateway.core.metrics import Metrics
from tests.unit.gateway.stubs import StubAttributionStore

SHOWN = Impression(7, "2", "2", (100, 101, 102))
RID = "e" * 32


@pytest.mark.parametrize(
    ("user", "item", "expected"),
    [
        (7, 102, ClickAttribution(ClickStatus.ATTRIBUTED, "2", "2", 2)),
        (7, 999, ClickAttribution(ClickStatus.NOT_SHOWN)),
        (8, 100, ClickAttribution(ClickStatus.OTHER_USER)),  # says nothing of 7's answer
    ],
)
def test_match(user: int, item: int, expected: ClickAttribution) -> None:
    assert match(SHOWN, user, item) == expected
    assert match(None, user, item) == ClickAttribution(ClickStatus.UNKNOWN_REQUEST)


def attribute(log: ImpressionLog, store: StubAttributionStore, user: int, item: int) -> str:
    click = asyncio.run(attribute_click(log, store, 60, RID, user, item))  # type: ignore[arg-type]
    return click.status.value


def test_a_click_counts_once_for_its_answers_arm_version_and_position() -> None:
    log, store = ImpressionLog(Settings(), Metrics()), StubAttributionStore()
    store.impressions[RID] = SHOWN  # written by an earlier flush
    assert attribute(log, store, 7, 101) == "attributed"
    assert attribute(log, store, 7, 101) == "repeat"
    assert attribute(log, store, 7, 100) == "attributed"
    assert attribute(log, store, 7, 5) == "not_shown"
    assert attribute(log, store, 9, 100) == "other_user"
    assert store.hashes == {("2", "2"): Counter({"clicks:1": 1, "clicks:0": 1})}
    assert store.unattributed == {"not_shown": 1, "other_user": 1}


def test_a_click_before_the_answers_write_is_matched_in_memory() -> None:
    log, store = ImpressionLog(Settings(attribution_max_per_s=0), Metrics()), StubAttributionStore()
    log.offer(RID, 7, "1", [40, 41])
    assert attribute(log, store, 7, 41) == "attributed"
    log.take()  # in flight: still matched
    assert attribute(log, store, 7, 40) == "attributed"
    log.written()  # written elsewhere: now only Redis knows it, and this stub does not
    assert attribute(log, store, 7, 40) == "unknown_request"
    assert store.hashes[("all", "1")] == {"clicks:1": 1, "clicks:0": 1}
    assert store.unattributed == {"unknown_request": 1}


def test_summary_is_ctr_at_k_with_its_wilson_interval() -> None:
    counts = ArmCounts("1", "1", 50, 40, (40, 40, 40, 30), (12, 8, 4, 3))
    top2 = summarize(counts, 2)
    assert (top2.impressions, top2.clicks, top2.ctr) == (80, 20, 0.25)
    assert top2.ctr_low == pytest.approx(0.1680, abs=1e-4)
    assert top2.ctr_high == pytest.approx(0.3548, abs=1e-4)
    every = summarize(counts, 10)
    assert (every.impressions, every.clicks) == (150, 27)
    assert summarize(ArmCounts("1", "1", 3, 0, (), ()), 10).ctr is None
    # a click counted before its answer's counters landed: no rate above 1
    assert summarize(ArmCounts("1", "1", 1, 0, (), (1,)), 10).ctr is None
    assert summarize(ArmCounts("1", "1", 1, 1, (1,), (2,)), 10).ctr == 1.0


def test_metrics_show_the_latest_counts() -> None:
    metrics, latest = Metrics(), LatestCounts()
    metrics.registry.register(CountsCollector(latest, k=10))
    latest.counts = Counts((ArmCounts("1", "1", 50, 40, (40,), (10,)),), {"unknown_request": 3})
    text = generate_latest(metrics.registry).decode()
    assert 'gateway_ab_requests_total{arm="1",model_version="1"} 50.0' in text
    assert 'gateway_ab_impressions_total{arm="1",model_version="1"} 40.0' in text
    assert 'gateway_ab_clicks_total{arm="1",model_version="1"} 10.0' in text
    assert 'gateway_ab_ctr{arm="1",bound="value",model_version="1"} 0.25' in text
    assert 'gateway_ab_ctr{arm="1",bound="low",model_version="1"} 0.14' in text
    assert 'gateway_ab_unattributed_clicks_total{reason="unknown_request"} 3.0' in text


def flusher_for(
    store: StubAttributionStore, settings: Settings
) -> tuple[ImpressionLog, ImpressionFlusher, LatestCounts, Metrics]:
    metrics, latest = Metrics(), LatestCounts()
    log = ImpressionLog(settings, metrics)
    return log, ImpressionFlusher(log, store, latest, settings, metrics), latest, metrics  # type: ignore[arg-type]


def test_the_flusher_writes_in_the_background_and_once_more_at_close() -> None:
    store = StubAttributionStore()
    settings = Settings(attribution_flush_s=0.01, attribution_refresh_s=0.01)
    log, flusher, latest, metrics = flusher_for(store, settings)

    async def scenario() -> None:
        flusher.start()
        log.offer("1" * 32, 7, "1", [1, 2])
        await asyncio.sleep(0.2)
        assert "1" * 32 in store.impressions  # written without anyone asking
        assert latest.counts.arms[0].requests == 1  # and read back for /metrics
        log.offer("2" * 32, 7, "1", [3])
        await flusher.close()

    asyncio.run(scenario())
    assert "2" * 32 in store.impressions
    assert metrics.registry.get_sample_value("gateway_impressions_written_total") == 2
    assert metrics.registry.get_sample_value("gateway_impressions_flush_seconds_count") == 2


def test_a_failed_write_drops_the_batch_counts_it_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = StubAttributionStore(down=True)
    log, flusher, latest, metrics = flusher_for(store, Settings(attribution_max_per_s=0))
    latest.counts = before = Counts((ArmCounts("1", "1", 1, 0, (), ()),))

    async def scenario() -> None:
        for n in range(3):
            log.offer(f"{n:032x}", 7, "1", [1])
            await flusher.flush()
        await flusher.refresh()
        store.down = False
        log.offer("f" * 32, 7, "1", [1])
        await flusher.flush()

    with caplog.at_level(logging.WARNING, logger="services.gateway.attribution"):
        asyncio.run(scenario())
    dropped = metrics.registry.get_sample_value(
        "gateway_impressions_dropped_total", {"reason": "redis"}
    )
    assert dropped == 3 and list(store.impressions) == ["f" * 32]
    assert latest.counts is before  # a failed read keeps the last counts
    assert log.shown("0" * 32) is None  # not kept in memory either
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert "Redis writes fail" in messages[0] and "work again" in messages[1]
