"""Exact figures from the request record: the whole run, each case, each step, the best step."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from loadtests.request_record import RequestRecord
from loadtests.user_mix import CASES

BEST_STEP_FIELDS = ("users", "requests_per_s", "p50_ms", "p95_ms", "p99_ms")


def latency_figures(response_ms: NDArray[Any], ok: NDArray[Any], seconds: float) -> dict[str, Any]:
    """Counts, throughput over `seconds` and exact latency percentiles (linear interpolation)."""
    count = len(response_ms)
    figures: dict[str, Any] = {
        "requests": count,
        "failures": int(count - int(np.count_nonzero(ok))),
        "requests_per_s": round(count / seconds, 1) if seconds > 0 else 0.0,
    }
    for name, q in (("p50_ms", 50), ("p95_ms", 95), ("p99_ms", 99)):
        figures[name] = round(float(np.percentile(response_ms, q)), 2) if count else None
    figures["mean_ms"] = round(float(response_ms.mean()), 2) if count else None
    figures["max_ms"] = round(float(response_ms.max()), 2) if count else None
    return figures


def constant_figures(record: RequestRecord) -> dict[str, Any]:
    """The whole run (from the start of the load to the last answer), and each case apart."""
    elapsed = float(record.seconds.max()) if len(record.seconds) else 0.0
    whole = latency_figures(record.response_ms, record.ok, elapsed)
    by_case = {}
    for case in CASES:
        mask = record.case == case
        by_case[case] = latency_figures(record.response_ms[mask], record.ok[mask], elapsed)
    return {**whole, "elapsed_s": round(elapsed, 2), "by_case": by_case}


def step_figures(
    record: RequestRecord, steps: tuple[int, ...], step_seconds: float, warmup: float
) -> list[dict[str, Any]]:
    """Each step measured from `warmup` seconds after all its users run to the step's end."""
    seconds, users = record.seconds, record.users
    results = []
    for index, target in enumerate(steps):
        start, end = index * step_seconds, (index + 1) * step_seconds
        in_step = (seconds >= start) & (seconds < end)
        running = np.flatnonzero(in_step & (users >= target))
        window_start = float(seconds[running[0]]) + warmup if len(running) else end
        mask = in_step & (seconds >= window_start)
        window = max(0.0, end - window_start)
        figures = latency_figures(record.response_ms[mask], record.ok[mask], window)
        results.append(
            {
                "users": target,
                "window_s": round(window, 2),
                "window_start_s": round(min(window_start, end), 2),
                **figures,
            }
        )
    return results


def best_under_slo(steps: list[dict[str, Any]], slo_ms: float) -> dict[str, Any] | None:
    """The step with the highest throughput whose p99 is within the SLO and had no failures."""
    fitting = [
        step
        for step in steps
        if step["requests"] > 0 and step["failures"] == 0 and step["p99_ms"] <= slo_ms
    ]
    if not fitting:
        return None
    best = max(fitting, key=lambda step: step["requests_per_s"])
    return {key: best[key] for key in BEST_STEP_FIELDS}


def completions_per_second(seconds: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
    """(middle of each whole second since the start, requests completed in it)."""
    if not len(seconds):
        return np.zeros(0), np.zeros(0)
    counts = np.bincount(np.floor(seconds).astype(int).clip(min=0))[:-1]  # last one: partial
    return np.arange(len(counts)) + 0.5, counts.astype(float)
