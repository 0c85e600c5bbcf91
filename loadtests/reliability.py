"""Reliability benchmark: faults injected under load into a running `make run` stack (loopback).

    make run && make reliability        # or: python -m loadtests.reliability --help

Closed-loop clients send GET /recommend for known users and, for a share of requests,
POST /interactions with a fresh item id. One fault after another, each after a quiet baseline:

  redis-pause     SIGSTOP the stack's redis-server for --fault-s, then SIGCONT
  redis-restart   SIGTERM redis-server (it flushes its append-only file), start it again
  redis-kill      SIGKILL redis-server (a crash: the last second of writes may be lost, fsync
                  is once a second), start it again after --fault-s
  instance-kill   SIGKILL one python-backend process of Triton (the watchdog replaces it)
  triton-restart  stop Triton, start it again (launcher, as `make run` does)

Per fault: requests, status counts (0 = no answer within --timeout-s), max latency, time to
recover (from the end of the fault until the first --stable-s window with only 2xx answers),
and interactions lost (acknowledged with 201, absent from Redis at the end). Results go to a
JSON file. Only loopback targets; bounded: about (baseline + fault + recovery window) per fault.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import redis

from deploy.stack import StackSettings, running_redis_url
from loadtests.closed_loop import Load, Sample
from loadtests.faults import FAULTS, INJECT
from loadtests.loopback import is_loopback_url
from loadtests.user_table import USER_TABLE, read_user_ids
from services.ensemble.contract import online_interactions_key


@dataclass
class FaultResult:
    fault: str
    requests: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    max_latency_ms: float = 0.0
    fault_s: float = 0.0
    recover_s: float | None = None
    interactions_acknowledged: int = 0
    interactions_lost: int = 0
    note: str = ""


def summarize(
    load: Load, fault: str, began: float, healed: float, until: float, stable_s: float
) -> FaultResult:
    window = [s for s in load.samples if began <= s.at < until]
    result = FaultResult(fault=fault, requests=len(window), fault_s=round(healed - began, 2))
    result.statuses = {str(k): v for k, v in sorted(Counter(s.status for s in window).items())}
    result.max_latency_ms = round(max((s.latency_s for s in window), default=0.0) * 1000, 1)
    result.recover_s = time_to_recover(window, healed, until, stable_s)
    return result


def time_to_recover(
    samples: list[Sample], healed: float, until: float, stable_s: float
) -> float | None:
    """Seconds from `healed` to the start of the first `stable_s` window of only 2xx answers."""
    after = sorted((s for s in samples if s.at >= healed), key=lambda s: s.at)
    for index, sample in enumerate(after):
        if sample.status not in (200, 201) or sample.at + stable_s > until:
            continue
        window = [s for s in after[index:] if s.at < sample.at + stable_s]
        if all(s.status in (200, 201) for s in window):
            earlier_bad = [s for s in after[:index] if s.status not in (200, 201)]
            start = earlier_bad[-1].at if earlier_bad else healed
            return round(max(0.0, start - healed), 2)
    return None


def lost_interactions(client: redis.Redis, acknowledged: list[tuple[float, int, int]]) -> set[int]:
    with client.pipeline(transaction=False) as pipe:
        for _, user, item in acknowledged:
            pipe.sismember(online_interactions_key(user), item)
        present = pipe.execute()
    return {item for (_, _, item), ok in zip(acknowledged, present, strict=True) if not ok}


def known_users(settings: StackSettings, count: int) -> list[int]:
    return read_user_ids(settings.build_dir / USER_TABLE)[:count]


def run(args: argparse.Namespace) -> dict[str, object]:
    settings = StackSettings.from_env()
    redis_url = running_redis_url(settings)
    users = known_users(settings, 500)
    load = Load(args.gateway, users, args.clients, args.post_share, args.timeout_s)
    results: list[FaultResult] = []
    phases: list[tuple[float, float]] = []
    load.start()
    try:
        for fault in args.faults:
            phase_start = time.monotonic()
            time.sleep(args.baseline_s)
            began = time.monotonic()
            try:
                note = INJECT[fault](settings, args.fault_s)
            except Exception as exc:  # recorded, and the run goes on: the report is still written
                note = f"injection failed: {type(exc).__name__}: {exc}"[:300]
            healed = time.monotonic()
            time.sleep(args.window_s)
            result = summarize(load, fault, began, healed, time.monotonic(), args.stable_s)
            result.note = note
            results.append(result)
            phases.append((phase_start, time.monotonic()))
            print(
                f"[reliability] {fault}: {note}; recovered after {result.recover_s} s", flush=True
            )
    finally:
        load.stop()
    lost = lost_interactions(redis.Redis.from_url(redis_url, socket_timeout=5), load.acknowledged)
    for result, (start, end) in zip(results, phases, strict=True):
        in_phase = [a for a in load.acknowledged if start <= a[0] < end]
        result.interactions_acknowledged = len(in_phase)
        result.interactions_lost = sum(1 for _, _, item in in_phase if item in lost)
    return {
        "gateway": args.gateway,
        "clients": args.clients,
        "post_share": args.post_share,
        "total_requests": len(load.samples),
        "interactions_acknowledged": len(load.acknowledged),
        "interactions_lost": len(lost),
        "faults": [asdict(r) for r in results],
    }


def print_table(report: dict[str, object]) -> None:
    print(
        f"\n{'fault':<16}{'requests':>9}  {'statuses':<34}{'max ms':>9}{'recover s':>10}"
        f"{'lost':>6}"
    )
    rows = report["faults"]
    assert isinstance(rows, list)
    for row in rows:
        statuses = " ".join(f"{k}:{v}" for k, v in row["statuses"].items())
        recover = "-" if row["recover_s"] is None else f"{row['recover_s']:.2f}"
        print(
            f"{row['fault']:<16}{row['requests']:>9}  {statuses:<34}{row['max_latency_ms']:>9.0f}"
            f"{recover:>10}{row['interactions_lost']:>6}"
        )
    print(
        f"interactions acknowledged {report['interactions_acknowledged']}, "
        f"lost {report['interactions_lost']}"
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtests.reliability", description=__doc__)
    parser.add_argument("--gateway", default="http://127.0.0.1:8080")
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated, in order")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--post-share", type=float, default=0.1)
    parser.add_argument("--baseline-s", type=float, default=3.0)
    parser.add_argument("--fault-s", type=float, default=5.0)
    parser.add_argument("--window-s", type=float, default=20.0, help="observed after each fault")
    parser.add_argument("--stable-s", type=float, default=2.0, help="all-2xx span = recovered")
    parser.add_argument("--timeout-s", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=Path("results/reliability.json"))
    args = parser.parse_args(argv)
    args.faults = [f for f in args.faults.split(",") if f]
    unknown = [f for f in args.faults if f not in INJECT]
    if unknown:
        parser.exit(2, f"error: unknown fault {unknown[0]!r}; known: {', '.join(FAULTS)}\n")
    if not is_loopback_url(args.gateway):
        parser.exit(2, f"error: --gateway must be a loopback address, got {args.gateway}\n")
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
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
