"""The limits each fault of a reliability run is held to (loadtests/reliability.py): the
defaults (the issue's "Must show"), the command line's FAULT=N overrides, the verdict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from loadtests.fault_figures import FaultResult
from loadtests.faults import FAULTS, INJECT

N = TypeVar("N", int, float)


@dataclass(frozen=True)
class Limits:
    """Per fault: the longest outage, the most slow requests, the most interactions lost."""

    outage_s: dict[str, float] = field(default_factory=dict)
    slow: dict[str, int] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)

    def of(self, fault: str) -> dict[str, float]:
        """The fault's limits by measure (outage_s, slow, lost); empty: none."""
        named: dict[str, Mapping[str, float]] = {
            "outage_s": self.outage_s,
            "slow": self.slow,
            "lost": self.lost,
        }
        return {measure: limits[fault] for measure, limits in named.items() if fault in limits}


DEFAULT_LIMITS = Limits(
    outage_s={"instance-kill": 2.0, "triton-kill": 30.0, "redis-kill": 5.0},
    slow={"instance-kill": 0},
    lost={"redis-kill": 0},
)
"""The issue's "Must show": a model process killed under load, no request past the gateway's
timeout and full service within 2 s; tritonserver killed, back by itself within 30 s;
redis-server killed, back by itself within 5 s with every acknowledged interaction."""


def judge(result: FaultResult, limits: Limits) -> FaultResult:
    """Fills in the fault's limits and what passed them."""
    result.limits = limits.of(result.fault)
    breaches = ["injection failed"] if result.injection_failed else []
    outage = result.limits.get("outage_s")
    if outage is not None:
        if result.outage_s is None:
            breaches.append("no recovery in the window")
        elif result.outage_s > outage:
            breaches.append(f"outage {result.outage_s:.2f} s > {outage:g} s")
    for measure, value in (("slow", result.slow), ("lost", result.interactions_lost)):
        limit = result.limits.get(measure)
        if limit is not None and value is None:
            breaches.append(f"{measure} not known")
        elif limit is not None and value is not None and value > limit:
            breaches.append(f"{measure} {value} > {limit:g}")
    result.breaches = breaches
    return result


LIMIT_FLAGS = {
    "--max-outage-s": "a fault's longest outage in seconds, repeatable (default "
    + ", ".join(f"{f}={v:g}" for f, v in DEFAULT_LIMITS.outage_s.items())
    + ")",
    "--max-slow": "a fault's most requests past the gateway's timeout (default "
    + ", ".join(f"{f}={v}" for f, v in DEFAULT_LIMITS.slow.items())
    + ")",
    "--max-lost": "a fault's most acknowledged interactions lost (default "
    + ", ".join(f"{f}={v}" for f, v in DEFAULT_LIMITS.lost.items())
    + ")",
}


def limits_from(outage: list[str], slow: list[str], lost: list[str]) -> Limits:
    """The default limits, with each FAULT=VALUE given on the command line instead."""
    return Limits(
        outage_s={**DEFAULT_LIMITS.outage_s, **_pairs("--max-outage-s", outage, float)},
        slow={**DEFAULT_LIMITS.slow, **_pairs("--max-slow", slow, int)},
        lost={**DEFAULT_LIMITS.lost, **_pairs("--max-lost", lost, int)},
    )


def _pairs(flag: str, given: list[str], kind: type[N]) -> dict[str, N]:
    pairs: dict[str, N] = {}
    for text in given:
        fault, _, value = text.partition("=")
        if fault not in INJECT:
            raise ValueError(f"{flag} {text}: unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        try:
            number = kind(value)
        except ValueError:
            number = -1
        if number < 0:
            raise ValueError(f"{flag} {text}: want FAULT=N with N a {kind.__name__} >= 0")
        pairs[fault] = number
    return pairs
