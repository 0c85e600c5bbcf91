"""The two child processes of a run: Locust (this environment), then bench_triton (Merlin's)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtests.errors import InputError, RunError
from loadtests.result_files import BENCH_FILES, CSV_PREFIX, FILES
from loadtests.settings import REPO_ROOT, RunSettings

LOCUSTFILE = Path(__file__).resolve().with_name("locustfile.py")
LOCUST_GRACE_S = 60.0
BENCH_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class LocustRun:
    exit_code: int
    """0, or 1 when some requests failed."""
    wall_s: float
    cpu_s: float
    """CPU time of Locust itself."""


def locust_command(settings: RunSettings) -> list[str]:
    out = settings.out
    command = [
        *(sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)),
        *("--headless", "--only-summary", "--host", settings.host),
        *("--spawn-rate", f"{settings.spawn_rate:g}", "--csv", str(out / CSV_PREFIX)),
        # Also a history row per name; and only then are the history's percentiles Locust's
        # "current" ones (last 10 s) rather than cumulative since the start.
        "--csv-full-history",
        *("--html", str(out / FILES["html_report"])),
        *settings.profile.locust_arguments(),
    ]
    if settings.steps:  # the shape ends the run after the last step; -u only labels the report
        return [*command, "--users", str(max(settings.steps))]
    return [*command, "--users", str(settings.users), "--run-time", f"{settings.duration}s"]


def run_locust(command: list[str], seconds: float, log: Path) -> LocustRun:
    """Runs Locust to its end (killed past `seconds` + a grace period)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    # Every option is on the command line: LOADTEST_* variables must not add a step load.
    env = {name: value for name, value in os.environ.items() if not name.startswith("LOADTEST_")}
    with log.open("w") as log_file:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        code = _wait(process, seconds + LOCUST_GRACE_S)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    error_lines = [line for line in log.read_text().splitlines() if line.startswith("error: ")]
    if code == 2 and error_lines:
        raise InputError(error_lines[-1].removeprefix("error: "))
    if code not in (0, 1):  # 1: Locust's exit status when some requests failed
        raise RunError(f"locust exited with {code}; see {log}")
    return LocustRun(exit_code=code, wall_s=round(wall, 2), cpu_s=round(cpu, 2))


def _wait(process: subprocess.Popen[bytes], limit: float) -> int:
    try:
        try:
            return process.wait(timeout=limit)
        except KeyboardInterrupt:  # Locust got the SIGINT too: it writes its files and quits
            limit = LOCUST_GRACE_S
            return process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise RunError(f"locust did not end within {limit:.0f} s; killed") from None


def run_bench_triton(settings: RunSettings, triton_url: str) -> Any:
    """loadtests/bench_triton.py in the Merlin environment; its JSON report (or the error)."""
    report_path = settings.out / BENCH_FILES["bench_triton"]
    command = [
        *(str(settings.merlin_python), "-m", "loadtests.bench_triton"),
        *("--build", str(settings.build.resolve()), "--url", triton_url),
        *("--requests", str(settings.triton_requests), "--concurrency", str(settings.users)),
        *("--duration", str(settings.triton_duration)),
        *("--model-repository", str(settings.model_repository.resolve())),
        *("--gateway-url", settings.host, "--out", str(report_path.resolve())),
    ]
    log = settings.out / BENCH_FILES["bench_triton_log"]
    with log.open("w") as log_file:
        try:
            code = subprocess.run(
                command,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # the same JSON as --out
                stderr=log_file,
                timeout=BENCH_TIMEOUT_S + settings.triton_duration,
            ).returncode
        except subprocess.TimeoutExpired:
            return {"error": f"bench_triton did not end within {BENCH_TIMEOUT_S:.0f} s"}
    if code != 0 or not report_path.exists():
        return {"error": f"bench_triton exited with {code}; see {log.name}"}
    return json.loads(report_path.read_text())
