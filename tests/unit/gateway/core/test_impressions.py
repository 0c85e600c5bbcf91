"""The request path's side of click attribution: sampling, the per-arm request count, the
pending batch and its memory bound."""

from __future__ import annotations

from services.gateway.core.config import Settings
from services.gateway.core.impressions import NO_SPLIT_ARM, Impression, ImpressionLog, Sampler
from services.gateway.core.metrics import Metrics


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_cap_takes_at_most_max_per_s_after_a_seconds_burst() -> None:
    clock = Clock()
    sampler = Sampler(share=1.0, max_per_s=10, clock=clock)
    assert sum(sampler.take() for _ in range(50)) == 10  # the burst: one second's worth
    clock.now += 0.5
    assert sum(sampler.take() for _ in range(50)) == 5
    clock.now += 100  # idle: the bucket refills to one second's worth, no more
    assert sum(sampler.take() for _ in range(50)) == 10


def test_the_share_takes_that_share_and_zero_takes_none() -> None:
    draws = iter([0.1, 0.5, 0.29, 0.3, 0.9] * 20)
    sampler = Sampler(share=0.3, max_per_s=0, draw=lambda: next(draws))  # 0: no cap
    assert [sampler.take() for _ in range(5)] == [True, False, True, False, False]
    assert not any(Sampler(share=0.0, max_per_s=0).take() for _ in range(100))
    assert all(Sampler(share=1.0, max_per_s=0).take() for _ in range(10_000))


def test_offer_counts_every_answer_and_keeps_the_sampled_ones() -> None:
    draws = iter([0.0, 0.99, 0.0])
    sampler = Sampler(share=0.5, max_per_s=0, draw=lambda: next(draws))
    log = ImpressionLog(Settings(), Metrics(), sampler)
    log.offer("a" * 32, 7, "1", [10, 11, 12])
    log.offer("b" * 32, 8, "1", [13])
    log.offer("c" * 32, 9, "latest", [14])
    assert log.shown("a" * 32) == Impression(7, NO_SPLIT_ARM, "1", (10, 11, 12))
    assert log.shown("b" * 32) is None  # sampled out, still counted
    batch = log.take()
    assert batch.requests == {(NO_SPLIT_ARM, "1"): 2, (NO_SPLIT_ARM, "latest"): 1}
    assert set(batch.impressions) == {"a" * 32, "c" * 32}
    assert log.shown("c" * 32) is not None  # in flight: still matched
    log.written()
    assert log.shown("c" * 32) is None
    assert log.take().empty


def test_the_arm_is_the_splits_version_for_the_user() -> None:
    settings = Settings(ab="1:50,2:50", attribution_max_per_s=0)
    log = ImpressionLog(settings, Metrics())
    split = settings.ab_split
    assert split is not None
    for user in range(40):
        log.offer(f"{user:032x}", user, "2", [1])
    arms = {log.shown(f"{u:032x}").arm for u in range(40)}  # type: ignore[union-attr]
    assert arms == {"1", "2"}
    assert all(log.shown(f"{u:032x}").arm == str(split.version_for(u)) for u in range(40))  # type: ignore[union-attr]


def test_pending_answers_are_bounded_and_the_overflow_counted() -> None:
    metrics = Metrics()
    log = ImpressionLog(Settings(attribution_max_pending=3, attribution_max_per_s=0), metrics)
    for n in range(5):
        log.offer(f"{n:032x}", n, "1", [1, 2])
    batch = log.take()
    assert len(batch.impressions) == 3 and sum(batch.requests.values()) == 5
    dropped = metrics.registry.get_sample_value(
        "gateway_impressions_dropped_total", {"reason": "buffer_full"}
    )
    assert dropped == 2


def test_an_answer_without_items_shows_nothing() -> None:
    log = ImpressionLog(Settings(), Metrics())
    log.offer("d" * 32, 1, "1", [])
    assert log.shown("d" * 32) is None and sum(log.take().requests.values()) == 1
