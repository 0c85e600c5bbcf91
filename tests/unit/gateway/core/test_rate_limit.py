"""TokenBuckets: a burst, then the rate; per client; a bounded number of clients."""

from __future__ import annotations

import pytest

from services.gateway.core.config import Settings
from services.gateway.core.rate_limit import TokenBuckets


class Clock:
    """time.monotonic, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


CLOCK = Clock()


@pytest.fixture(autouse=True)
def _clock_reset() -> None:
    CLOCK.now = 1000.0


def buckets(rate_per_s: float = 2.0, burst: int = 3, max_clients: int = 100) -> TokenBuckets:
    return TokenBuckets(rate_per_s, burst, max_clients, clock=CLOCK)


def test_a_burst_passes_then_the_wait_is_until_the_next_token() -> None:
    limiter = buckets(rate_per_s=2.0, burst=3)
    assert [limiter.wait_s("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.wait_s("a") == pytest.approx(0.5)
    CLOCK.now += 0.25
    assert limiter.wait_s("a") == pytest.approx(0.25)  # half a token came back
    CLOCK.now += 0.25
    assert limiter.wait_s("a") == 0.0
    assert limiter.wait_s("a") == pytest.approx(0.5)


def test_refused_requests_take_no_token() -> None:
    limiter = buckets(rate_per_s=1.0, burst=1)
    assert limiter.wait_s("a") == 0.0
    for _ in range(50):
        assert limiter.wait_s("a") > 0
    CLOCK.now += 1.0
    assert limiter.wait_s("a") == 0.0


def test_a_quiet_client_gets_back_at_most_its_burst() -> None:
    limiter = buckets(rate_per_s=10.0, burst=2)
    limiter.wait_s("a")
    CLOCK.now += 3600
    assert [limiter.wait_s("a") for _ in range(3)] == [0.0, 0.0, pytest.approx(0.1)]


def test_clients_have_their_own_buckets() -> None:
    limiter = buckets(rate_per_s=1.0, burst=1)
    assert limiter.wait_s("10.0.0.1") == 0.0
    assert limiter.wait_s("10.0.0.1") > 0
    assert limiter.wait_s("10.0.0.2") == 0.0


def test_the_least_recently_seen_client_is_forgotten_past_the_cap() -> None:
    limiter = buckets(rate_per_s=1.0, burst=1, max_clients=2)
    limiter.wait_s("a")
    limiter.wait_s("b")
    assert limiter.wait_s("a") > 0  # a is now the most recently seen
    limiter.wait_s("c")  # forgets b
    assert len(limiter) == 2
    assert limiter.wait_s("a") > 0  # a kept its empty bucket
    assert limiter.wait_s("b") == 0.0  # b starts again, full


def test_memory_stays_bounded_under_many_addresses() -> None:
    limiter = buckets(max_clients=50)
    for client in range(10_000):
        limiter.wait_s(f"10.1.{client // 256}.{client % 256}")
    assert len(limiter) == 50


def test_settings_build_the_write_limit_and_zero_disables_it() -> None:
    limiter = TokenBuckets.for_writes(
        Settings(write_rate_per_s=5, write_burst=7, write_rate_clients=9)
    )
    assert limiter is not None
    assert (limiter.rate_per_s, limiter.burst, limiter.max_clients) == (5, 7, 9)
    assert TokenBuckets.for_writes(Settings(write_rate_per_s=0)) is None


@pytest.mark.parametrize(("rate", "burst", "clients"), [(0, 1, 1), (1, 0, 1), (1, 1, 0)])
def test_a_limit_that_could_never_pass_is_refused(rate: float, burst: int, clients: int) -> None:
    with pytest.raises(ValueError):
        TokenBuckets(rate, burst, clients)
