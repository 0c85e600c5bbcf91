"""Soak: a steady paced load through the gateway of a running `make run` stack, memory watched.

    make run && make soak            # RATE=150 requests/s for DURATION=1800 s by default

Paced clients (loadtests/closed_loop.py) send GET /recommend for known users and, for a share
of requests, POST /interactions. Every `--sample-s` seconds the resident memory of the server
(tritonserver and its python-backend processes) and of the gateway is read. The memory growth is
the mean of the last three samples against the mean of the three samples that follow the
warm-up (`--warmup-s`); the run passes when the server's growth is below `--max-growth` (2 %),
no answer was a 5xx and no interaction was lost. Each minute's requests, errors and p50/p99 go
to the JSON report beside the memory samples.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import psutil
import redis

from deploy.stack import StackSettings, read_pid, running_redis_url
from loadtests.closed_loop import Load, Sample
from loadtests.loopback import is_loopback_url
from loadtests.reliability import known_users, lost_interactions

SERVER_PROCESSES = ("tritonserver", "triton_python_backend_stub")


@dataclass(frozen=True)
class MemorySample:
    at_s: float
    server_mb: float
    gateway_mb: float


def tree_rss_mb(pid: int | None, names: tuple[str, ...] | None = None) -> float:
    """RSS of a process and its descendants (those named `names` only, when given), in MB."""
    if pid is None or not psutil.pid_exists(pid):
        return 0.0
    root = psutil.Process(pid)
    total = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            if names is None or process.name() in names:
                total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return round(total / 2**20, 1)


def memory_sample(settings: StackSettings, started: float) -> MemorySample:
    return MemorySample(
        at_s=round(time.monotonic() - started, 1),
        server_mb=tree_rss_mb(read_pid(settings.pid_file("triton")), SERVER_PROCESSES),
        gateway_mb=tree_rss_mb(read_pid(settings.pid_file("gateway"))),
    )


def growth(samples: list[MemorySample], warmup_s: float, field: str) -> float | None:
    """Relative growth: last three samples against the first three after the warm-up."""
    after = [getattr(s, field) for s in samples if s.at_s >= warmup_s]
    if len(after) < 6 or not np.mean(after[:3]):
        return None
    return round(float(np.mean(after[-3:]) / np.mean(after[:3]) - 1.0), 5)


def slope_mb_per_hour(samples: list[MemorySample], warmup_s: float, field: str) -> float | None:
    points = [(s.at_s, getattr(s, field)) for s in samples if s.at_s >= warmup_s]
    if len(points) < 3:
        return None
    x, y = np.array(points).T
    return round(float(np.polyfit(x, y, 1)[0] * 3600.0), 2)


def per_minute(samples: list[Sample], started: float) -> list[dict[str, float]]:
    minutes: dict[int, list[Sample]] = {}
    for sample in samples:
        minutes.setdefault(int((sample.at - started) // 60), []).append(sample)
    rows = []
    for minute, group in sorted(minutes.items()):
        latencies = np.array([s.latency_s * 1e3 for s in group])
        rows.append(
            {
                "minute": minute,
                "requests": len(group),
                "errors": sum(1 for s in group if s.status not in (200, 201)),
                "p50_ms": round(float(np.percentile(latencies, 50)), 2),
                "p99_ms": round(float(np.percentile(latencies, 99)), 2),
            }
        )
    return rows


def run(args: argparse.Namespace) -> dict[str, object]:
    settings = StackSettings.from_env()
    load = Load(
        args.gateway, known_users(settings, 500), args.clients, args.post_share, 5.0, args.rate
    )
    started = time.monotonic()
    memory = [memory_sample(settings, started)]
    load.start()
    try:
        while time.monotonic() - started < args.duration_s:
            time.sleep(min(args.sample_s, max(0.0, args.duration_s - (time.monotonic() - started))))
            memory.append(memory_sample(settings, started))
            print(f"[soak] {memory[-1]}", flush=True)
    finally:
        load.stop()
    client = redis.Redis.from_url(running_redis_url(settings), socket_timeout=5)
    lost = lost_interactions(client, load.acknowledged)
    statuses = [s.status for s in load.samples]
    server_growth = growth(memory, args.warmup_s, "server_mb")
    return {
        "gateway": args.gateway,
        "rate_target": args.rate,
        "duration_s": args.duration_s,
        "requests": len(statuses),
        "requests_per_s": round(len(statuses) / args.duration_s, 1),
        "server_errors_5xx": sum(1 for s in statuses if s >= 500),
        "no_answer": statuses.count(0),
        "interactions_acknowledged": len(load.acknowledged),
        "interactions_lost": len(lost),
        "server_rss_growth": server_growth,
        "gateway_rss_growth": growth(memory, args.warmup_s, "gateway_mb"),
        "server_rss_slope_mb_per_h": slope_mb_per_hour(memory, args.warmup_s, "server_mb"),
        "gateway_rss_slope_mb_per_h": slope_mb_per_hour(memory, args.warmup_s, "gateway_mb"),
        "passed": bool(
            server_growth is not None
            and server_growth < args.max_growth
            and not any(s >= 500 or s == 0 for s in statuses)
            and not lost
        ),
        "load_average_end": list(psutil.getloadavg()),
        "per_minute": per_minute(load.samples, started),
        "memory": [asdict(m) for m in memory],
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gateway", default="http://127.0.0.1:8080")
    parser.add_argument("--rate", type=float, default=150.0, help="requests/s, all clients")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--post-share", type=float, default=0.1)
    parser.add_argument("--duration-s", type=float, default=1800.0)
    parser.add_argument("--warmup-s", type=float, default=120.0)
    parser.add_argument("--sample-s", type=float, default=30.0)
    parser.add_argument("--max-growth", type=float, default=0.02)
    parser.add_argument("--out", type=Path, default=Path("results/soak.json"))
    args = parser.parse_args(argv)
    if not is_loopback_url(args.gateway):
        parser.error(f"--gateway must be a loopback address, got {args.gateway}")
    if args.rate <= 0 or args.clients <= 0 or args.duration_s <= 0:
        parser.error("--rate, --clients and --duration-s must be positive")
    if args.duration_s < args.warmup_s + 6 * args.sample_s:
        parser.error("--duration-s must leave six memory samples after --warmup-s")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    report = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    summary = {k: v for k, v in report.items() if k not in ("per_minute", "memory")}
    print(json.dumps(summary, indent=2))
    print(f"[soak] report: {args.out}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
