"""Reliability benchmark: faults injected under load into a running `make run` stack (loopback),
each held to its limits; exit 1 when one is passed.

    make run && make reliability        # or: python -m loadtests.reliability --help
    make reliability SHORT=1            # --short: the faults with limits, short phases (CI)

Closed-loop clients send GET /recommend for known users and, for a share of requests,
POST /interactions with a fresh item id. One fault after another, each after a quiet baseline:

  redis-pause     SIGSTOP the stack's redis-server for --fault-s, then SIGCONT
  redis-restart   SIGTERM redis-server (it flushes its append-only file), start it again
  redis-kill      SIGKILL redis-server (a crash: the last second of writes may be lost, fsync
                  is once a second); it must come back by itself: after its outage limit + 2 s
                  the run starts it again
  instance-kill   SIGKILL one python-backend process of Triton (the watchdog replaces it)
  triton-restart  stop Triton, start it again (launcher, as `make run` does)
  triton-kill     SIGKILL tritonserver; like redis-kill, it must come back by itself

Per fault, over the requests sent from the injection to the end of its observation window
(--window-s after the fault is healed): requests, status counts (0 = no answer within
--timeout-s), max latency, the outage (from the injection to the first 2xx answer that begins
--stable-s of requests answered 2xx only; a few ms when nothing failed), slow requests (answered
after more than --gateway-timeout-s, or not at all), interactions lost (acknowledged with 201
during the fault's phase, absent from Redis at the end), and when /readyz (asked every 50 ms)
first answered other than 200 and 200 again (`unready s`: the former). Each is held to its limit
(--max-outage-s, --max-slow, --max-lost FAULT=VALUE; defaults: DEFAULT_LIMITS, the issue's
"Must show"). A table with a verdict per fault and a JSON file; exit 1 when a limit is passed or
an injection failed, 2 for bad input. Only loopback targets; bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

import redis

from deploy.stack import StackSettings, running_redis_url
from loadtests.closed_loop import Load, ReadinessPolls, Sample
from loadtests.faults import FAULTS, INJECT, KILLS, Injection
from loadtests.loopback import is_loopback_url
from loadtests.user_table import USER_TABLE, read_user_ids
from services.ensemble.contract import online_interactions_key

N = TypeVar("N", int, float)
RESTART_GRACE_S = 2.0
"""A killed server gets its outage limit and this long to come back by itself."""


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


def lost_interactions(client: redis.Redis, acknowledged: list[tuple[float, int, int]]) -> set[int]:
    with client.pipeline(transaction=False) as pipe:
        for _, user, item in acknowledged:
            pipe.sismember(online_interactions_key(user), item)
        present = pipe.execute()
    return {item for (_, _, item), ok in zip(acknowledged, present, strict=True) if not ok}


def lost_or_none(redis_url: str, acknowledged: list[tuple[float, int, int]]) -> set[int] | None:
    """The acknowledged interactions absent from Redis; None (and a line) if it cannot say."""
    try:
        return lost_interactions(redis.Redis.from_url(redis_url, socket_timeout=5), acknowledged)
    except redis.RedisError as exc:
        print(f"[reliability] interactions not checked: {type(exc).__name__}: {exc}", flush=True)
        return None


def known_users(settings: StackSettings, count: int) -> list[int]:
    return read_user_ids(settings.build_dir / USER_TABLE)[:count]


def wait_s_of(fault: str, args: argparse.Namespace) -> float:
    """How long the fault lasts: --fault-s, or for a kill the time its server gets to come back
    by itself (its outage limit + RESTART_GRACE_S)."""
    limit: float | None = args.limits.outage_s.get(fault)
    return limit + RESTART_GRACE_S if fault in KILLS and limit is not None else float(args.fault_s)


def inject(fault: str, settings: StackSettings, wait_s: float) -> tuple[Injection, bool]:
    """The injection, and whether it failed (recorded: the run goes on, the report is written)."""
    began = time.monotonic()
    try:
        return INJECT[fault](settings, wait_s), False
    except Exception as exc:
        return Injection(began, f"injection failed: {type(exc).__name__}: {exc}"[:300]), True


def run(args: argparse.Namespace) -> dict[str, object]:
    settings = StackSettings.from_env()
    redis_url = running_redis_url(settings)
    users = known_users(settings, 500)
    load = Load(args.gateway, users, args.clients, args.post_share, args.timeout_s)
    readyz = ReadinessPolls(args.gateway)
    phases: list[Phase] = []
    began = time.monotonic()
    load.start()
    readyz.start()
    try:
        for fault in args.faults:
            start = time.monotonic()
            time.sleep(args.baseline_s)
            injection, failed = inject(fault, settings, wait_s_of(fault, args))
            healed = time.monotonic()
            time.sleep(args.window_s)
            phases.append(Phase(fault, start, injection, failed, healed, time.monotonic()))
            print(f"[reliability] {fault}: {injection.note}", flush=True)
    finally:
        readyz.stop()
        load.stop()
    lost = lost_or_none(redis_url, load.acknowledged)
    measure = Measure(args.stable_s, args.gateway_timeout_s)
    results = []
    for phase in phases:
        result = summarize(load.samples, phase, measure, readyz.samples)
        in_phase = [a for a in load.acknowledged if phase.start <= a[0] < phase.until]
        result.interactions_acknowledged = len(in_phase)
        result.interactions_lost = (
            None if lost is None else sum(1 for _, _, item in in_phase if item in lost)
        )
        results.append(judge(result, args.limits))
    return {
        "gateway": args.gateway,
        "clients": args.clients,
        "post_share": args.post_share,
        "short": args.short,
        "duration_s": round(time.monotonic() - began, 1),
        "total_requests": len(load.samples),
        "interactions_acknowledged": len(load.acknowledged),
        "interactions_lost": None if lost is None else len(lost),
        "passed": not any(r.breaches for r in results),
        "faults": [{**asdict(r), "verdict": r.verdict} for r in results],
    }


def print_table(report: dict[str, object]) -> None:
    print(
        f"\n{'fault':<16}{'requests':>9}  {'statuses':<34}{'max ms':>9}{'outage s':>10}"
        f"{'slow':>6}{'lost':>6}{'unready s':>10}  result"
    )
    rows = report["faults"]
    assert isinstance(rows, list)
    for row in rows:
        statuses = " ".join(f"{k}:{v}" for k, v in row["statuses"].items())
        outage = "never" if row["outage_s"] is None else f"{row['outage_s']:.2f}"
        unready = "-" if row["unready_after_s"] is None else f"{row['unready_after_s']:.2f}"
        print(
            f"{row['fault']:<16}{row['requests']:>9}  {statuses:<34}{row['max_latency_ms']:>9.0f}"
            f"{outage:>10}{row['slow']:>6}{_or_unknown(row['interactions_lost']):>6}{unready:>10}  "
            f"{row['verdict']:<5}{_limits_text(row)}".rstrip()
        )
    print(
        f"interactions acknowledged {report['interactions_acknowledged']}, "
        f"lost {_or_unknown(report['interactions_lost'])}"
    )
    failed = sum(1 for row in rows if row["breaches"])
    verdict = "pass" if not failed else f"FAIL ({failed} of {len(rows)} faults past a limit)"
    print(f"reliability: {verdict}")


def _or_unknown(value: object) -> str:
    return "?" if value is None else str(value)


def _limits_text(row: dict[str, object]) -> str:
    """The breaches of a failed row; the limits a passed row kept to."""
    breaches, limits = row["breaches"], row["limits"]
    assert isinstance(breaches, list) and isinstance(limits, dict)
    names = {"outage_s": "outage <= {:g} s", "slow": "slow <= {:g}", "lost": "lost <= {:g}"}
    kept = ", ".join(names[measure].format(value) for measure, value in limits.items())
    return "; ".join(breaches) if breaches else kept


FULL = {"faults": ",".join(FAULTS), "baseline_s": 3.0, "window_s": 20.0, "stable_s": 2.0}
SHORT = {
    "faults": "instance-kill,redis-kill,triton-kill",
    "baseline_s": 1.0,
    "window_s": 5.0,
    "stable_s": 1.0,
}
"""--short: only the faults with limits, shorter phases (for CI)."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.reliability",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--gateway", default="http://127.0.0.1:8080")
    parser.add_argument("--short", action="store_true", help=f"short form: {SHORT}")
    parser.add_argument("--faults", help=f"comma-separated, in order (default {FULL['faults']})")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--post-share", type=float, default=0.1)
    parser.add_argument("--baseline-s", type=float, help="default 3, --short 1")
    parser.add_argument("--fault-s", type=float, default=5.0, help="length of redis-pause")
    parser.add_argument("--window-s", type=float, help="observed after each fault: 20, --short 5")
    parser.add_argument("--stable-s", type=float, help="all-2xx span ending an outage: 2, short 1")
    parser.add_argument("--timeout-s", type=float, default=5.0, help="the clients' own timeout")
    parser.add_argument(
        "--gateway-timeout-s",
        type=float,
        default=float(os.environ.get("GATEWAY_REQUEST_TIMEOUT_S") or 1.0),
        help="slower answers count as slow (default GATEWAY_REQUEST_TIMEOUT_S or 1)",
    )
    for flag, help_text in LIMIT_FLAGS.items():
        parser.add_argument(flag, action="append", default=[], metavar="FAULT=N", help=help_text)
    parser.add_argument("--out", type=Path, default=Path("results/reliability.json"))
    args = parser.parse_args(argv)
    for name, value in (SHORT if args.short else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.faults = [f for f in args.faults.split(",") if f]
    unknown = [f for f in args.faults if f not in INJECT]
    if unknown:
        parser.exit(2, f"error: unknown fault {unknown[0]!r}; known: {', '.join(FAULTS)}\n")
    if not is_loopback_url(args.gateway):
        parser.exit(2, f"error: --gateway must be a loopback address, got {args.gateway}\n")
    try:
        args.limits = limits_from(args.max_outage_s, args.max_slow, args.max_lost)
    except ValueError as exc:
        parser.exit(2, f"error: {exc}\n")
    return args


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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        report = run(args)
    except SystemExit:
        raise
    except Exception as exc:  # one line, not a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print_table(report)
    print(f"results: {args.out}  ({report['duration_s']} s)")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
