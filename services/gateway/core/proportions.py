"""Click-through rates and their uncertainty: the Wilson interval of one rate and the
two-proportion z-test between two. Standard library only (the A/B report imports it too).

Each impression counts as one Bernoulli trial. Clicks of one user (and of one answer) are not
independent, so the intervals are somewhat narrower than the truth; with many users per arm
the difference is small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054
"""The standard normal's 97.5% quantile: two-sided 95%."""


@dataclass(frozen=True)
class Rate:
    successes: int
    trials: int
    low: float
    high: float
    """The 95% Wilson interval."""

    @property
    def value(self) -> float:
        return self.successes / self.trials


def wilson(successes: int, trials: int, z: float = Z_95) -> Rate | None:
    """successes / trials with its Wilson score interval; None without trials. Unlike the
    normal approximation it stays inside [0, 1] and is not empty at 0 or `trials` clicks."""
    if trials <= 0:
        return None
    if not 0 <= successes <= trials:
        raise ValueError(f"{successes} successes out of {trials} trials")
    p, n, z2 = successes / trials, trials, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Rate(successes, trials, max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Comparison:
    difference: float
    """rate a - rate b."""
    low: float
    high: float
    """The difference's 95% interval (unpooled standard error)."""
    z: float
    """(a - b) / the pooled standard error."""
    p_value: float
    """Two-sided."""


def compare(a: Rate, b: Rate, z: float = Z_95) -> Comparison | None:
    """The two-proportion z-test of a against b; None when it is undefined (both rates 0 or
    both 1: no variance)."""
    pooled = (a.successes + b.successes) / (a.trials + b.trials)
    pooled_se = math.sqrt(pooled * (1 - pooled) * (1 / a.trials + 1 / b.trials))
    if pooled_se == 0:
        return None
    difference = a.value - b.value
    se = math.sqrt(a.value * (1 - a.value) / a.trials + b.value * (1 - b.value) / b.trials)
    statistic = difference / pooled_se
    return Comparison(
        difference=difference,
        low=difference - z * se,
        high=difference + z * se,
        z=statistic,
        p_value=math.erfc(abs(statistic) / math.sqrt(2)),
    )
