"""What the runner prints: the load it starts, then the figures of the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadtests.settings import RunSettings


def load_label(settings: RunSettings) -> str:
    if settings.steps:
        return f"users {settings.steps_text}"
    return f"{settings.users} users"


def print_start(settings: RunSettings) -> None:
    print(
        f"locust: {settings.mode} load on {settings.host} for {settings.seconds:g} s "
        f"({load_label(settings)}), results in {settings.out}",
        flush=True,
    )


def describe(figures: dict[str, Any]) -> str:
    return (
        f"{figures['requests']} requests, {figures['failures']} failures, "
        f"{figures['requests_per_s']:.1f} requests/s, p50 {figures['p50_ms']} ms, "
        f"p95 {figures['p95_ms']} ms, p99 {figures['p99_ms']} ms"
    )


def print_results(summary: dict[str, Any], settings: RunSettings, out: Path) -> None:
    print(f"overall: {describe(summary)}")
    for case, figures in summary["by_case"].items():
        if figures["requests"]:
            print(f"  {case}: {describe(figures)}")
    if "steps" in summary:
        print_steps(summary["steps"], summary["best_under_slo"], settings)
    bench = summary.get("bench_triton")
    if isinstance(bench, dict) and "concurrent" in bench:
        direct = bench["concurrent"]
        print(
            f"bench_triton, direct gRPC, {direct['concurrency']} threads: "
            f"{direct['throughput_rps']:.1f} requests/s, p50 {direct['p50_ms']} ms, "
            f"p95 {direct['p95_ms']} ms, p99 {direct['p99_ms']} ms, {direct['errors']} errors"
        )
    elif isinstance(bench, dict) and "error" in bench:
        print(f"bench_triton failed: {bench['error']}")
    print(f"results: {out}")


def print_steps(
    steps: list[dict[str, Any]], best: dict[str, Any] | None, settings: RunSettings
) -> None:
    print(f"steps (each measured after {settings.step_warmup:g} s of warm-up):")
    print("  users  requests/s    p50 ms    p95 ms    p99 ms  failures")
    for step in steps:
        print(
            f"  {step['users']:5d}  {step['requests_per_s']:10.1f}  {step['p50_ms'] or 0:8.2f}"
            f"  {step['p95_ms'] or 0:8.2f}  {step['p99_ms'] or 0:8.2f}  {step['failures']:8d}"
        )
    if best:
        print(
            f"best under the SLO (p99 <= {settings.slo_ms:g} ms, no failures): "
            f"{best['requests_per_s']:.1f} requests/s at {best['users']} users "
            f"(p99 {best['p99_ms']} ms)"
        )
    else:
        print(f"no step kept p99 <= {settings.slo_ms:g} ms without failures")
