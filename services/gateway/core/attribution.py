"""Every click attributed: a click posted with an answer's request_id is matched to what that
answer showed (A/B arm, model version, position) and counted in Redis; the counters become
CTR@k with 95% Wilson intervals for /stats and /metrics.

`ImpressionFlusher` is the background side: it writes the `ImpressionLog`'s pending batch
every GATEWAY_ATTRIBUTION_FLUSH_S and reads the counters back every
GATEWAY_ATTRIBUTION_REFRESH_S for /metrics (`CountsCollector`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.gateway.core.attribution_store import ArmCounts, AttributionStore, Counts
from services.gateway.core.config import Settings
from services.gateway.core.impressions import Impression, ImpressionLog
from services.gateway.core.metrics import Metrics
from services.gateway.core.online_store import OnlineStoreUnavailable
from services.gateway.core.proportions import wilson

logger = logging.getLogger("services.gateway.attribution")


class ClickStatus(StrEnum):
    ATTRIBUTED = "attributed"
    REPEAT = "repeat"
    """This answer's click on this item was counted before: not again."""
    UNKNOWN_REQUEST = "unknown_request"
    """No recorded answer: a wrong id, sampled out, expired, or its write failed."""
    NOT_SHOWN = "not_shown"
    OTHER_USER = "other_user"
    """The answer was for another user."""


@dataclass(frozen=True)
class ClickAttribution:
    status: ClickStatus
    arm: str | None = None
    model_version: str | None = None
    position: int | None = None


def match(shown: Impression | None, user_id: int, item_id: int) -> ClickAttribution:
    """What a click on item_id by user_id is, given the answer it names."""
    if shown is None:
        return ClickAttribution(ClickStatus.UNKNOWN_REQUEST)
    if shown.user_id != user_id:
        return ClickAttribution(ClickStatus.OTHER_USER)  # nothing about another user's answer
    if item_id not in shown.item_ids:
        return ClickAttribution(ClickStatus.NOT_SHOWN)
    position = shown.item_ids.index(item_id)
    return ClickAttribution(ClickStatus.ATTRIBUTED, shown.arm, shown.model_version, position)


async def attribute_click(
    log: ImpressionLog,
    store: AttributionStore,
    ttl_s: int,
    request_id: str,
    user_id: int,
    item_id: int,
) -> ClickAttribution:
    """Count the click for its answer's arm and version (once per answer and item), or as
    unattributed with its reason. OnlineStoreUnavailable when Redis fails."""
    shown = log.shown(request_id) or await store.impression(request_id)
    click = match(shown, user_id, item_id)
    if click.status is not ClickStatus.ATTRIBUTED:
        await store.count_unattributed(click.status.value)
        return click
    assert click.arm is not None and click.model_version is not None
    assert click.position is not None
    if not await store.first_click(request_id, item_id, ttl_s):
        return ClickAttribution(ClickStatus.REPEAT, click.arm, click.model_version, click.position)
    await store.count_click(click.arm, click.model_version, click.position)
    return click


@dataclass(frozen=True)
class ArmSummary:
    arm: str
    model_version: str
    requests: int
    recorded: int
    impressions: int
    clicks: int
    ctr: float | None
    ctr_low: float | None
    ctr_high: float | None


def summarize(counts: ArmCounts, k: int) -> ArmSummary:
    """CTR@k of one (arm, version): attributed clicks / impressions at positions below k."""
    clicks, impressions = counts.within(k)
    # a click read before its answer's write landed can briefly outnumber the impressions
    rate = wilson(min(clicks, impressions), impressions)
    return ArmSummary(
        arm=counts.arm,
        model_version=counts.model_version,
        requests=counts.requests,
        recorded=counts.recorded,
        impressions=impressions,
        clicks=clicks,
        ctr=None if rate is None else rate.value,
        ctr_low=None if rate is None else rate.low,
        ctr_high=None if rate is None else rate.high,
    )


class LatestCounts:
    """The counters as last read from Redis (by the flusher, or by /stats)."""

    def __init__(self) -> None:
        self.counts = Counts()


class CountsCollector(Collector):
    """/metrics' view of LatestCounts: the same cluster-wide totals from every gateway."""

    def __init__(self, latest: LatestCounts, k: int) -> None:
        self._latest = latest
        self._k = k

    def collect(self) -> Iterator[Metric]:
        labels = ["arm", "model_version"]
        requests = CounterMetricFamily(
            "gateway_ab_requests",
            "Answers per A/B arm and model version (all gateways)",
            labels=labels,
        )
        impressions = CounterMetricFamily(
            "gateway_ab_impressions",
            f"Items shown at positions below {self._k} in sampled answers",
            labels=labels,
        )
        clicks = CounterMetricFamily(
            "gateway_ab_clicks", "Clicks attributed to a sampled answer's items", labels=labels
        )
        ctr = GaugeMetricFamily(
            "gateway_ab_ctr",
            f"CTR@{self._k}: clicks / impressions; bound: low, high (95% Wilson)",
            labels=[*labels, "bound"],
        )
        for counts in self._latest.counts.arms:
            summary = summarize(counts, self._k)
            pair = [summary.arm, summary.model_version]
            requests.add_metric(pair, summary.requests)
            impressions.add_metric(pair, summary.impressions)
            clicks.add_metric(pair, summary.clicks)
            for bound, value in (
                ("value", summary.ctr),
                ("low", summary.ctr_low),
                ("high", summary.ctr_high),
            ):
                if value is not None:
                    ctr.add_metric([*pair, bound], value)
        unattributed = CounterMetricFamily(
            "gateway_ab_unattributed_clicks",
            "Clicks with a request_id no recorded answer explains",
            labels=["reason"],
        )
        for reason, count in sorted(self._latest.counts.unattributed.items()):
            unattributed.add_metric([reason], count)
        yield from (requests, impressions, clicks, ctr, unattributed)


class ImpressionFlusher:
    """The background task: flush every flush_s, refresh the counters every refresh_s."""

    def __init__(
        self,
        log: ImpressionLog,
        store: AttributionStore,
        latest: LatestCounts,
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self._log = log
        self._store = store
        self._latest = latest
        self._settings = settings
        self._metrics = metrics
        self._failing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop, after one last flush of what is pending."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def flush(self) -> None:
        batch = self._log.take()
        if batch.empty:
            return
        start = time.perf_counter()
        try:
            await self._store.write(batch, self._settings.attribution_ttl_s)
            self._metrics.impressions_written.inc(len(batch.impressions))
            self._note(None)
        except OnlineStoreUnavailable as exc:
            self._metrics.impressions_dropped.labels("redis").inc(len(batch.impressions))
            self._note(exc)
        finally:
            self._log.written()
            self._metrics.impressions_flush_seconds.observe(time.perf_counter() - start)

    async def refresh(self) -> None:
        with contextlib.suppress(OnlineStoreUnavailable):  # the last counts stay; flush logs
            self._latest.counts = await self._store.counts()

    async def _run(self) -> None:
        next_refresh = 0.0
        while True:
            await self.flush()
            if time.monotonic() >= next_refresh:
                await self.refresh()
                next_refresh = time.monotonic() + self._settings.attribution_refresh_s
            await asyncio.sleep(self._settings.attribution_flush_s)

    def _note(self, failure: OnlineStoreUnavailable | None) -> None:
        """One log line when writes start failing, one when they work again."""
        if failure is not None and not self._failing:
            logger.warning("click attribution: Redis writes fail, answers dropped: %s", failure)
        elif failure is None and self._failing:
            logger.warning("click attribution: Redis writes work again")
        self._failing = failure is not None
