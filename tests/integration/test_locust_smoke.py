"""The Locust load test (loadtests/run.py, in .venvs/loadtest) through the real gateway."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import REPO_ROOT, Gateway, free_port

LOADTEST_PYTHON = REPO_ROOT / ".venvs" / "loadtest" / "bin" / "python"
RESULT_FILES = (
    "summary.json",
    "latency_throughput.png",
    "report.html",
    "locust_stats.csv",
    "locust_stats_history.csv",
    "locust_failures.csv",
    "requests.parquet",
    "locust.log",
)
SUMMARY_FIELDS = (
    "timestamp",
    "mode",
    "requests",
    "failures",
    "requests_per_s",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "by_case",
    "settings",
    "machine",
    "git",
    "locust",
)


def run_loadtest(*arguments: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    if not LOADTEST_PYTHON.exists():
        pytest.fail(f"{LOADTEST_PYTHON} missing: run `make setup`")
    return subprocess.run(
        [str(LOADTEST_PYTHON), "-m", "loadtests.run", *arguments],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_constant_load_writes_a_complete_results_directory(
    gateway: Gateway, build_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "constant"
    result = run_loadtest(
        *("--build", str(build_dir), "--host", gateway.url, "--out", str(out)),
        *("--users", "4", "--spawn-rate", "4", "--duration", "5"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name in RESULT_FILES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert (out / "latency_throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    summary = json.loads((out / "summary.json").read_text())
    assert set(SUMMARY_FIELDS) <= set(summary)
    assert summary["mode"] == "constant"
    assert summary["requests"] > 0
    assert summary["failures"] == 0
    assert summary["requests_per_s"] > 0
    assert 0 < summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"] <= summary["max_ms"]
    # ~5% of several hundred requests ask for unknown users: both cases answered and checked
    assert summary["by_case"]["known"]["requests"] > 0
    assert summary["by_case"]["unknown"]["requests"] > 0
    settings = summary["settings"]
    assert (settings["users"], settings["duration_s"], settings["unknown_share"]) == (4, 5, 0.05)
    assert summary["machine"]["cores"] >= 1 and summary["machine"]["cpu"]
    assert len(summary["git"]["commit"]) == 40
    aggregated = summary["locust"]["stats"]["Aggregated"]
    assert aggregated["requests"] > 0 and aggregated["failures"] == 0
    assert set(summary["locust"]["stats"]) == {
        "/recommend [known]",
        "/recommend [unknown]",
        "Aggregated",
    }
    assert pq.read_table(out / "requests.parquet").num_rows == summary["requests"]
    assert "overall:" in result.stdout and "0 failures" in result.stdout


@pytest.mark.slow
def test_step_load_reports_each_step_and_the_best_under_the_slo(
    gateway: Gateway, build_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "steps"
    result = run_loadtest(
        *("--build", str(build_dir), "--host", gateway.url, "--out", str(out)),
        *("--step-load", "--steps", "1,3", "--step-seconds", "3", "--step-warmup", "0.5"),
        "--slo-ms",
        "5000",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mode"] == "step"
    assert [step["users"] for step in summary["steps"]] == [1, 3]
    for step in summary["steps"]:
        assert step["requests"] > 0 and step["failures"] == 0
        assert 0 < step["window_s"] <= 3
    best = summary["best_under_slo"]
    assert best is not None and best["users"] in (1, 3)
    assert best["requests_per_s"] == max(step["requests_per_s"] for step in summary["steps"])
    assert "best under the SLO" in result.stdout
    assert (out / "latency_throughput.png").is_file()


@pytest.fixture
def fake_build(tmp_path: Path) -> Path:
    """Just the user table: enough for the runner's input checks."""
    data = tmp_path / "build" / "feature_repo" / "data"
    data.mkdir(parents=True)
    pq.write_table(pa.table({"user_id": [1000003, 1000004]}), data / "user_features.parquet")
    return tmp_path / "build"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--build", "{missing}", "--host", "http://127.0.0.1:9"), "is not a directory"),
        (("--build", "{build}", "--host", "http://10.1.2.3:8080"), "must be on this machine"),
        (("--build", "{build}", "--host", "http://127.0.0.1:{port}"), "is not ready"),
        (("--build", "{build}", "--step-load", "--steps", "2,x"), "--steps"),
        (("--build", "{build}", "--triton-url", "192.168.0.9:8001"), "must be on this machine"),
    ],
)
def test_bad_input_ends_with_one_error_line(
    fake_build: Path, tmp_path: Path, arguments: tuple[str, ...], message: str
) -> None:
    values = {"missing": str(tmp_path / "nothing"), "build": str(fake_build), "port": free_port()}
    out = tmp_path / "out"
    result = run_loadtest(*(part.format(**values) for part in arguments), "--out", str(out))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not out.exists()
