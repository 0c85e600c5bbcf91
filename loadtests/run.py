"""Run the Locust load test against the running gateway and write a results directory.

    .venvs/loadtest/bin/python -m loadtests.run --build artifacts --host http://127.0.0.1:8080 \
        --users 16 --spawn-rate 16 --duration 60 --out results/DIR
        [--step-load [--steps 2,4,8,16,32,64] [--step-seconds 15] [--step-warmup 2] [--slo-ms 50]]
        [--triton-url 127.0.0.1:8001]  # also the direct gRPC benchmark (loadtests/bench_triton.py)

Runs Locust headless (loadtests/locustfile.py) and writes into --out: Locust's CSV files and HTML
report, every request's figures (requests.parquet), summary.json (throughput, exact latency
percentiles, failures, machine, git commit, settings, timestamp) and a plot of the latency
percentiles and throughput over time. --step-load raises the number of users step by step and
reports the highest throughput whose p99 stays within --slo-ms. Targets must be on this machine
(loopback addresses). Bad input ends with one line `error: ...` and exit status 2; the exit status
is 1 when the run completed but requests failed, else 0.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from typing import Any

from loadtests.console import load_label, print_results, print_start
from loadtests.errors import InputError, RunError
from loadtests.figures import completions_per_second
from loadtests.latency_plot import plot
from loadtests.locust_csv import read_history
from loadtests.machine import cpu_times
from loadtests.preflight import prepare
from loadtests.processes import locust_command, run_bench_triton, run_locust
from loadtests.request_record import RequestRecord, read_record
from loadtests.result_files import FILES
from loadtests.settings import RunSettings
from loadtests.summary import cpu_record, summarize, write_summary


def run(settings: RunSettings) -> int:
    """The whole run; its exit status (1 when requests failed)."""
    triton_url = prepare(settings)
    out = settings.out
    started = dt.datetime.now(dt.timezone.utc)
    print_start(settings)
    load_before = os.getloadavg()[0]
    times_before = cpu_times()
    locust = run_locust(locust_command(settings), settings.seconds, out / FILES["locust_log"])
    cpu = cpu_record(locust, (times_before, cpu_times()), load_before)
    for name in ("stats_csv", "history_csv", "requests"):
        if not (out / FILES[name]).exists():
            raise RunError(f"locust wrote no {FILES[name]}; see {out / FILES['locust_log']}")

    record = read_record(out / FILES["requests"])
    summary = summarize(settings, triton_url, started, record, locust, cpu)
    draw(settings, summary, record)
    if triton_url:
        print(f"bench_triton: direct gRPC to {triton_url}, then through the gateway", flush=True)
        summary["bench_triton"] = run_bench_triton(settings, triton_url)
    write_summary(summary, out)
    print_results(summary, settings, out)
    return 1 if summary["failures"] else 0


def draw(settings: RunSettings, summary: dict[str, Any], record: RequestRecord) -> None:
    """latency_throughput.png."""
    title = (
        f"{settings.mode} load, {settings.host}: {load_label(settings)}"
        f", {summary['requests_per_s']:.0f} requests/s overall"
    )
    plot(
        read_history(settings.out / FILES["history_csv"]),
        settings.out / FILES["plot"],
        title,
        record.start_unix,
        completions_per_second(record.seconds),
        steps=summary.get("steps"),
        step_seconds=settings.profile.step_seconds,
        slo_ms=settings.slo_ms if settings.steps else None,
    )


def main(argv: list[str] | None = None) -> int:
    try:
        return run(RunSettings.from_args(argv))
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
