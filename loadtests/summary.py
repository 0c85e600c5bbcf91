"""summary.json: the run's exact figures, its settings, and what it ran on."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from loadtests.figures import best_under_slo, constant_figures, step_figures
from loadtests.locust_csv import read_failures, read_locust_stats
from loadtests.machine import busy_cores, git_commit, machine
from loadtests.processes import LocustRun
from loadtests.request_record import RequestRecord
from loadtests.result_files import BENCH_FILES, FILES
from loadtests.settings import REPO_ROOT, RunSettings


def settings_record(settings: RunSettings, triton_url: str | None) -> dict[str, Any]:
    """The settings as summary.json reports them."""
    profile, steps = settings.profile, settings.steps
    record: dict[str, Any] = {
        "mode": settings.mode,
        "host": settings.host,
        "build": str(settings.build),
        "users": settings.users if not steps else None,
        "spawn_rate": settings.spawn_rate,
        "duration_s": settings.duration if not steps else settings.seconds,
        "unknown_share": profile.unknown_share,
        "k": profile.k,
        "think_ms": profile.think_ms,
        "seed": profile.seed,
        "triton_url": triton_url,
    }
    if steps:
        record.update(
            steps=list(steps),
            step_seconds=profile.step_seconds,
            step_warmup_s=settings.step_warmup,
            slo_ms=settings.slo_ms,
        )
    return record


def cpu_record(locust: LocustRun, times: tuple[Any, Any], load_before: float) -> dict[str, Any]:
    """Cores Locust used, cores the machine kept busy (psutil readings before and after)."""
    return {
        "locust_cores": round(locust.cpu_s / locust.wall_s, 2) if locust.wall_s else None,
        "machine_busy_cores": busy_cores(*times),
        "load_average_1m_before": round(load_before, 2),
        "load_average_1m_after": round(os.getloadavg()[0], 2),
    }


def summarize(
    settings: RunSettings,
    triton_url: str | None,
    started: dt.datetime,
    record: RequestRecord,
    locust: LocustRun,
    cpu: dict[str, Any],
) -> dict[str, Any]:
    """Everything but bench_triton's report and the list of files."""
    out = settings.out
    summary: dict[str, Any] = {
        "timestamp": started.isoformat(timespec="seconds"),
        "mode": settings.mode,
        **constant_figures(record),
        "settings": settings_record(settings, triton_url),
        "machine": machine("locust"),
        "git": git_commit(REPO_ROOT),
        "cpu": cpu,
        "locust": {
            "exit_code": locust.exit_code,
            "stats": read_locust_stats(out / FILES["stats_csv"]),
        },
        "failure_reasons": read_failures(out / FILES["failures_csv"]),
    }
    if settings.steps:
        steps = step_figures(
            record, settings.steps, settings.profile.step_seconds, settings.step_warmup
        )
        summary["steps"] = steps
        summary["best_under_slo"] = best_under_slo(steps, settings.slo_ms)
    return summary


def write_summary(summary: dict[str, Any], out: Path) -> None:
    """Lists the files the run wrote under `files`, then writes summary.json."""
    files = {**FILES, **BENCH_FILES}
    summary["files"] = {key: name for key, name in files.items() if (out / name).exists()}
    summary["files"]["summary"] = FILES["summary"]
    (out / FILES["summary"]).write_text(json.dumps(summary, indent=2) + "\n")
