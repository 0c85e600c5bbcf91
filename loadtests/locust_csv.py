"""Locust's own CSV files: its totals per request name, its failures, its history."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

HISTORY_COLUMNS = {
    "Timestamp": "t",
    "User Count": "users",
    "Requests/s": "rps",
    "Failures/s": "fps",
    "50%": "p50",
    "95%": "p95",
    "99%": "p99",
}


def number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:  # "N/A"
        return None


def read_locust_stats(path: Path) -> dict[str, Any]:
    """Locust's rows by name (its percentiles round to whole ms below 100 ms)."""
    rows: dict[str, Any] = {}
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            rows[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "requests_per_s": round(float(row["Requests/s"]), 1),
                "p50_ms": number(row["50%"]),
                "p95_ms": number(row["95%"]),
                "p99_ms": number(row["99%"]),
                "max_ms": round(float(row["Max Response Time"]), 2),
            }
    return rows


def read_failures(path: Path, limit: int = 20) -> list[dict[str, Any]]:
    """The most frequent failures (name, reason, occurrences), most frequent first."""
    if not path.exists():
        return []
    with path.open(newline="") as file:
        rows: list[dict[str, Any]] = [
            {"name": row["Name"], "error": row["Error"], "occurrences": int(row["Occurrences"])}
            for row in csv.DictReader(file)
        ]
    return sorted(rows, key=lambda row: -row["occurrences"])[:limit]


def read_history(path: Path) -> dict[str, NDArray[Any]]:
    """The Aggregated rows of Locust's _stats_history.csv (one a second), as HISTORY_COLUMNS."""
    columns: dict[str, list[float]] = {key: [] for key in HISTORY_COLUMNS.values()}
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            if row.get("Name") != "Aggregated":
                continue
            for source, key in HISTORY_COLUMNS.items():
                value = number(row[source])
                columns[key].append(np.nan if value is None else value)
    history = {key: np.asarray(values, dtype=float) for key, values in columns.items()}
    for key in ("p50", "p95", "p99"):  # 0: Locust's window held no request yet
        history[key][history[key] == 0] = np.nan
    return history
