"""loadtests/locust_csv.py: Locust's stats, failures and history CSV files."""

from __future__ import annotations

import math
from pathlib import Path

from loadtests.locust_csv import read_failures, read_history, read_locust_stats

STATS_HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
)
HISTORY_HEADER = (
    "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,"
    "99.9%,99.99%,100%,Total Request Count,Total Failure Count"
)


def test_stats_rows_by_name_with_n_a_as_none(tmp_path: Path) -> None:
    path = tmp_path / "locust_stats.csv"
    path.write_text(
        STATS_HEADER
        + "\nGET,/recommend [known],120,0,4,4.5,2,31.25,900,24.04,0,4,5,5,5,6,8,9,12,31,31,31\n"
        + "GET,/recommend [unknown],0,0,0,0,0,0,0,0,0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A\n"
        + ",Aggregated,120,0,4,4.5,2,31.25,900,24.04,0,4,5,5,5,6,8,9,12,31,31,31\n"
    )
    stats = read_locust_stats(path)
    assert set(stats) == {"/recommend [known]", "/recommend [unknown]", "Aggregated"}
    assert stats["Aggregated"] == {
        "requests": 120,
        "failures": 0,
        "requests_per_s": 24.0,
        "p50_ms": 4.0,
        "p95_ms": 8.0,
        "p99_ms": 12.0,
        "max_ms": 31.25,
    }
    assert stats["/recommend [unknown]"]["p99_ms"] is None


def test_failures_most_frequent_first_and_none_without_the_file(tmp_path: Path) -> None:
    path = tmp_path / "locust_failures.csv"
    path.write_text(
        "Method,Name,Error,Occurrences\n"
        "GET,/recommend [known],HTTP 503,2\n"
        "GET,/recommend [unknown],HTTP 502,7\n"
        "GET,/recommend [known],body is not JSON,1\n"
    )
    failures = read_failures(path, limit=2)
    assert [row["occurrences"] for row in failures] == [7, 2]
    assert failures[0] == {"name": "/recommend [unknown]", "error": "HTTP 502", "occurrences": 7}
    assert read_failures(tmp_path / "absent.csv") == []


def test_history_keeps_the_aggregated_rows_and_blanks_empty_windows(tmp_path: Path) -> None:
    path = tmp_path / "locust_stats_history.csv"
    rest = ",".join(["0"] * 5) + ",10,0"
    path.write_text(
        HISTORY_HEADER
        + f"\n1700000000,2,,Aggregated,0,0,0,0,0,0,0,0,0,0,{rest}\n"
        + f"1700000000,2,GET,/recommend [known],5,0,3,3,3,3,4,4,4,4,{rest}\n"
        + f"1700000001,4,,Aggregated,9.5,0.5,3,3,3,3,4,6,6,7,{rest}\n"
    )
    history = read_history(path)
    assert history["t"].tolist() == [1700000000, 1700000001]
    assert history["users"].tolist() == [2, 4]
    assert history["rps"].tolist() == [0.0, 9.5] and history["fps"].tolist() == [0.0, 0.5]
    assert math.isnan(history["p50"][0]) and history["p99"][1] == 7.0
