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
  instance-kill   SIGKILL the executor model's python-backend process (the standby model answers
                  until the watchdog has replaced it)
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
from dataclasses import asdict
from pathlib import Path

import redis

from deploy.stack import StackSettings, running_redis_url
from loadtests.closed_loop import Load, ReadinessPolls
from loadtests.fault_figures import (
    FaultResult,
    Measure,
    Phase,
    outage_s,
    readiness_turns,
    slow_requests,
    summarize,
)
from loadtests.fault_limits import DEFAULT_LIMITS, LIMIT_FLAGS, Limits, judge, limits_from
from loadtests.fault_report import print_table
from loadtests.faults import FAULTS, INJECT, KILLS, Injection
from loadtests.loopback import is_loopback_url
from loadtests.user_table import USER_TABLE, read_user_ids
from services.ensemble.contract import online_interactions_key

__all__ = [  # the run's parts, importable from here as before the split
    "DEFAULT_LIMITS",
    "FaultResult",
    "Limits",
    "Measure",
    "Phase",
    "judge",
    "main",
    "outage_s",
    "parse_args",
    "print_table",
    "readiness_turns",
    "run",
    "slow_requests",
    "summarize",
    "wait_s_of",
]

RESTART_GRACE_S = 2.0
"""A killed server gets its outage limit and this long to come back by itself."""


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
