"""CTR intervals and the two-proportion test, against values computed independently (scipy:
the Wilson bounds as roots of the score test, the z-test as the uncorrected chi-square test of
the 2x2 table, whose statistic is z squared)."""

from __future__ import annotations

import pytest

from services.gateway.core.proportions import compare, wilson


@pytest.mark.parametrize(
    ("clicks", "shown", "low", "high"),
    [
        (81, 263, 0.2552885198780885, 0.3662095769828001),
        (0, 10, 0.0, 0.2775327998628892),
        (10, 10, 0.7224672001371107, 1.0),
        (1, 1000, 0.0001765463706260582, 0.005642558598034943),
        (2345, 10120, 0.22360158171793038, 0.2400407498923742),
    ],
)
def test_wilson_bounds_are_the_score_tests_roots(
    clicks: int, shown: int, low: float, high: float
) -> None:
    rate = wilson(clicks, shown)
    assert rate is not None
    assert rate.value == clicks / shown
    assert (rate.low, rate.high) == (pytest.approx(low, abs=1e-9), pytest.approx(high, abs=1e-9))


def test_no_impressions_no_rate_and_impossible_counts_refused() -> None:
    assert wilson(0, 0) is None
    with pytest.raises(ValueError, match="11 successes out of 10"):
        wilson(11, 10)


@pytest.mark.parametrize(
    ("a", "b", "z", "p_value"),
    [
        ((300, 1000), (250, 1000), 2.503915429180672, 0.012282738972377383),
        ((2345, 10120), (1234, 9880), 19.704164164142785, 1.9859446470617514e-86),
        ((10, 100), (12, 100), -0.45198461470556867, 0.6512800661041751),
    ],
)
def test_z_test_matches_the_chi_square_test(
    a: tuple[int, int], b: tuple[int, int], z: float, p_value: float
) -> None:
    rate_a, rate_b = wilson(*a), wilson(*b)
    assert rate_a is not None and rate_b is not None
    result = compare(rate_a, rate_b)
    assert result is not None
    assert result.z == pytest.approx(z, rel=1e-9)
    assert result.p_value == pytest.approx(p_value, rel=1e-6)
    assert result.difference == pytest.approx(a[0] / a[1] - b[0] / b[1])
    assert result.low < result.difference < result.high


def test_the_differences_interval_uses_the_unpooled_error() -> None:
    a, b = wilson(300, 1000), wilson(250, 1000)
    assert a is not None and b is not None
    result = compare(a, b)
    assert result is not None
    half = 1.959963984540054 * (0.3 * 0.7 / 1000 + 0.25 * 0.75 / 1000) ** 0.5
    assert (result.low, result.high) == (pytest.approx(0.05 - half), pytest.approx(0.05 + half))


def test_no_variance_no_test() -> None:
    none, all_ = wilson(0, 50), wilson(50, 50)
    assert none is not None and all_ is not None
    assert compare(none, none) is None and compare(all_, all_) is None
