"""loadtests/figures.py: exact figures of the run, each case and each step."""

from __future__ import annotations

import numpy as np
import pytest

from loadtests.figures import (
    best_under_slo,
    completions_per_second,
    constant_figures,
    latency_figures,
    step_figures,
)
from loadtests.request_record import RequestRecord


def record(seconds: np.ndarray, response_ms: np.ndarray, **columns: np.ndarray) -> RequestRecord:
    count = len(seconds)
    return RequestRecord(
        seconds=seconds,
        response_ms=response_ms,
        case=columns.get("case", np.array(["known"] * count, dtype=object)),
        ok=columns.get("ok", np.ones(count, dtype=bool)),
        users=columns.get("users", np.ones(count, dtype=np.int32)),
    )


def test_latency_figures_are_exact_percentiles_and_count_failures() -> None:
    response_ms = np.arange(1, 101, dtype=float)  # 1..100 ms
    ok = np.ones(100, dtype=bool)
    ok[:3] = False
    figures = latency_figures(response_ms, ok, seconds=4.0)
    assert figures["requests"] == 100 and figures["failures"] == 3
    assert figures["requests_per_s"] == 25.0
    assert figures["p50_ms"] == 50.5 and figures["p99_ms"] == 99.01
    assert (figures["mean_ms"], figures["max_ms"]) == (50.5, 100.0)


def test_no_requests_give_no_percentiles() -> None:
    figures = latency_figures(np.zeros(0), np.zeros(0, dtype=bool), seconds=0.0)
    assert figures["requests"] == 0 and figures["requests_per_s"] == 0.0
    assert figures["p99_ms"] is None and figures["max_ms"] is None


def test_constant_figures_report_each_case_apart() -> None:
    cases = np.array(["known", "known", "known", "unknown"], dtype=object)
    run = record(np.array([0.5, 1.0, 1.5, 2.0]), np.array([1.0, 2.0, 3.0, 40.0]), case=cases)
    figures = constant_figures(run)
    assert figures["requests"] == 4 and figures["elapsed_s"] == 2.0
    assert figures["requests_per_s"] == 2.0
    assert figures["by_case"]["known"]["requests"] == 3
    assert figures["by_case"]["known"]["max_ms"] == 3.0
    assert figures["by_case"]["unknown"]["p50_ms"] == 40.0


def test_steps_are_measured_after_their_users_run_and_the_best_fits_the_slo() -> None:
    # Two 10 s steps of 2 and 4 users; step 2 reaches 4 users at 11 s.
    seconds = np.concatenate([np.linspace(0, 9.99, 100), np.linspace(10, 19.99, 200)])
    users = np.where(seconds < 11, 2, 4)
    response_ms = np.where(seconds < 10, 10.0, 80.0)
    response_ms[(seconds >= 10) & (seconds < 11)] = 1000.0  # the ramp: left out
    steps = step_figures(record(seconds, response_ms, users=users), (2, 4), 10, warmup=1)
    assert [step["users"] for step in steps] == [2, 4]
    assert steps[0]["window_s"] == pytest.approx(9.0)
    assert steps[1]["window_s"] == pytest.approx(8.0, abs=0.1)
    assert steps[1]["p99_ms"] == 80.0  # nothing of the ramp's 1,000 ms
    assert steps[1]["requests_per_s"] > steps[0]["requests_per_s"]
    best = best_under_slo(steps, slo_ms=50)
    assert best is not None and best["users"] == 2
    best = best_under_slo(steps, slo_ms=100)
    assert best is not None and best["users"] == 4
    assert set(best) == {"users", "requests_per_s", "p50_ms", "p95_ms", "p99_ms"}
    assert best_under_slo(steps, slo_ms=5) is None
    assert best_under_slo([{**steps[1], "failures": 1}], slo_ms=100) is None


def test_a_step_whose_users_never_all_ran_has_no_window() -> None:
    seconds = np.linspace(0, 9.9, 50)
    steps = step_figures(record(seconds, np.ones(50), users=np.full(50, 3)), (8,), 10, warmup=1)
    assert steps[0]["requests"] == 0 and steps[0]["window_s"] == 0.0
    assert best_under_slo(steps, slo_ms=50) is None


def test_completions_per_second_leave_out_the_last_partial_second() -> None:
    middles, counts = completions_per_second(np.array([0.1, 0.2, 1.5, 2.2, 2.3, 2.4, 3.1]))
    assert middles.tolist() == [0.5, 1.5, 2.5]
    assert counts.tolist() == [2.0, 1.0, 3.0]
    assert completions_per_second(np.zeros(0))[1].size == 0
