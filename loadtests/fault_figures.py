"""What one fault's window of a reliability run measures (loadtests/reliability.py): the
requests and /readyz polls from its injection to the window's end, the outage, the slow ones."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from loadtests.closed_loop import Sample
from loadtests.faults import Injection


@dataclass
class FaultResult:
    fault: str
    requests: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    max_latency_ms: float = 0.0
    fault_s: float = 0.0
    """From the injection until the fault was healed (the injection returned)."""
    outage_s: float | None = None
    """None: no recovery within the observation window."""
    slow: int = 0
    unready_after_s: float | None = None
    """From the injection to the first /readyz answer other than 200 (None: none)."""
    ready_again_s: float | None = None
    """From the injection to /readyz's first 200 after that."""
    interactions_acknowledged: int = 0
    interactions_lost: int | None = 0
    """None: not known (Redis could not be read at the end)."""
    note: str = ""
    injection_failed: bool = False
    limits: dict[str, float] = field(default_factory=dict)
    breaches: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """FAIL on a breach, pass when within limits, `-` when nothing was held to a limit."""
        if self.breaches:
            return "FAIL"
        return "pass" if self.limits else "-"


@dataclass(frozen=True)
class Measure:
    """How the figures are taken: the all-2xx span that ends an outage, the gateway's timeout."""

    stable_s: float
    gateway_timeout_s: float


@dataclass(frozen=True)
class Phase:
    """One fault's part of the run, by time.monotonic()."""

    fault: str
    start: float
    """The start of its quiet baseline."""
    injection: Injection
    injection_failed: bool
    healed: float
    until: float
    """The end of its observation window."""


def summarize(
    samples: list[Sample], phase: Phase, measure: Measure, readyz: list[Sample] | None = None
) -> FaultResult:
    """The fault's figures over the requests (and /readyz polls) sent from its injection to the
    window's end."""
    injected, until = phase.injection.at, phase.until
    window = sorted((s for s in samples if injected <= s.sent < until), key=lambda s: s.sent)
    result = FaultResult(fault=phase.fault, requests=len(window), note=phase.injection.note)
    result.injection_failed = phase.injection_failed
    result.fault_s = round(phase.healed - injected, 2)
    result.statuses = {str(k): v for k, v in sorted(Counter(s.status for s in window).items())}
    result.max_latency_ms = round(max((s.latency_s for s in window), default=0.0) * 1000, 1)
    result.outage_s = outage_s(window, injected, until, measure.stable_s)
    result.slow = slow_requests(window, measure.gateway_timeout_s)
    polls = sorted((s for s in readyz or [] if injected <= s.sent < until), key=lambda s: s.sent)
    result.unready_after_s, result.ready_again_s = readiness_turns(polls, injected)
    return result


def readiness_turns(polls: list[Sample], injected: float) -> tuple[float | None, float | None]:
    """Seconds from `injected` to the first /readyz answer other than 200, and to the first
    200 after it (None: not seen); `polls` in the order they were sent."""
    unready = next((index for index, s in enumerate(polls) if s.status != 200), None)
    if unready is None:
        return None, None
    ready = next((s for s in polls[unready:] if s.status == 200), None)
    back = None if ready is None else round(ready.at - injected, 2)
    return round(polls[unready].at - injected, 2), back


def outage_s(samples: list[Sample], injected: float, until: float, stable_s: float) -> float | None:
    """Seconds from `injected` to the first 2xx answer to a request that begins `stable_s` of
    requests all answered 2xx (by the time they were sent); None if none does before `until`.
    `samples`: the requests sent from `injected` on, in the order they were sent."""
    next_failure = until + stable_s  # when the next failed request after each one was sent
    failure_after: list[float] = []
    for sample in reversed(samples):
        failure_after.append(next_failure)
        if not sample.ok:
            next_failure = sample.sent
    failure_after.reverse()
    for sample, failure in zip(samples, failure_after, strict=True):
        if sample.sent + stable_s > until:
            return None
        if sample.ok and failure >= sample.sent + stable_s:
            return round(max(0.0, sample.at - injected), 2)
    return None


def slow_requests(samples: list[Sample], gateway_timeout_s: float) -> int:
    """Requests answered after more than the gateway's timeout, or not at all."""
    return sum(1 for s in samples if s.status == 0 or s.latency_s > gateway_timeout_s)
