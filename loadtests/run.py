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

import argparse
import csv
import datetime as dt
import ipaddress
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = Path(__file__).resolve().with_name("locustfile.py")
MERLIN_PYTHON = REPO_ROOT / ".venvs" / "merlin" / "bin" / "python"
USER_FEATURES = Path("feature_repo") / "data" / "user_features.parquet"

CSV_PREFIX = "locust"
FILES = {
    "summary": "summary.json",
    "plot": "latency_throughput.png",
    "html_report": "report.html",
    "stats_csv": f"{CSV_PREFIX}_stats.csv",
    "history_csv": f"{CSV_PREFIX}_stats_history.csv",
    "failures_csv": f"{CSV_PREFIX}_failures.csv",
    "exceptions_csv": f"{CSV_PREFIX}_exceptions.csv",
    "requests": "requests.parquet",
    "locust_log": "locust.log",
}
BENCH_FILES = {"bench_triton": "bench_triton.json", "bench_triton_log": "bench_triton.log"}

# Bounds: every run ends by itself.
MAX_USERS = 1024
MAX_SECONDS = 3600
MAX_STEPS = 20
READY_TIMEOUT_S = 3.0
LOCUST_GRACE_S = 60.0
BENCH_TIMEOUT_S = 900.0


class InputError(Exception):
    """Bad input: reported as one `error: ...` line, exit status 2."""


class RunError(Exception):
    """The run itself failed: one `error: ...` line, exit status 1."""


# ---------------------------------------------------------------------------------------------
# input


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Bad arguments: one `error: ...` line (no usage text), exit status 2."""
        self.exit(2, f"error: {message} (see --help)\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser(
        prog="python -m loadtests.run",
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--build", type=Path, required=True, help="build directory (artifacts)")
    parser.add_argument("--host", default="http://127.0.0.1:8080", help="gateway base URL")
    parser.add_argument("--out", type=Path, required=True, help="results directory (new or empty)")
    parser.add_argument("--users", type=int, default=16, help="concurrent users (constant load)")
    parser.add_argument("--spawn-rate", type=float, default=16.0, help="users started per second")
    parser.add_argument("--duration", type=int, default=60, help="seconds (constant load)")
    parser.add_argument("--unknown-share", type=float, default=0.05, help="share of unknown ids")
    parser.add_argument("--k", type=int, default=10, help="items asked for per request")
    parser.add_argument("--think-ms", type=float, default=0.0, help="pause between requests")
    parser.add_argument("--seed", type=int, default=0, help="seed of the user mix")
    step = parser.add_argument_group("step load")
    step.add_argument("--step-load", action="store_true", help="raise the users step by step")
    step.add_argument("--steps", default="2,4,8,16,32,64", help="user counts, one per step")
    step.add_argument("--step-seconds", type=float, default=15.0, help="duration of each step")
    step.add_argument(
        "--step-warmup",
        type=float,
        default=2.0,
        help="seconds left out at the start of each step, once its users all run",
    )
    step.add_argument("--slo-ms", type=float, default=50.0, help="p99 latency objective")
    bench = parser.add_argument_group("direct gRPC comparison (loadtests/bench_triton.py)")
    bench.add_argument("--triton-url", help="Triton gRPC host:port: also run bench_triton after")
    bench.add_argument("--triton-requests", type=int, default=1000, help="sequential requests")
    bench.add_argument(
        "--triton-duration", type=int, default=20, help="seconds with --users threads"
    )
    bench.add_argument(
        "--model-repository",
        type=Path,
        default=REPO_ROOT / "model_repository",
        help="for bench_triton's in-process stage timings",
    )
    bench.add_argument(
        "--merlin-python", type=Path, default=MERLIN_PYTHON, help="interpreter for bench_triton"
    )
    return parser.parse_args(argv)


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_steps(text: str) -> list[int]:
    try:
        steps = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"--steps must be comma-separated integers: {text!r}") from None
    if not steps or len(steps) > MAX_STEPS:
        raise InputError(f"--steps needs 1 to {MAX_STEPS} user counts: {text!r}")
    if any(not 1 <= users <= MAX_USERS for users in steps):
        raise InputError(f"--steps user counts must be within 1..{MAX_USERS}: {text!r}")
    return steps


def check_settings(args: argparse.Namespace) -> list[int]:
    """Validates the numbers and returns the steps (empty for a constant load)."""
    if not 1 <= args.users <= MAX_USERS:
        raise InputError(f"--users must be within 1..{MAX_USERS}: {args.users}")
    if not args.spawn_rate > 0:
        raise InputError(f"--spawn-rate must be positive: {args.spawn_rate}")
    if not 1 <= args.duration <= MAX_SECONDS:
        raise InputError(f"--duration must be within 1..{MAX_SECONDS} seconds: {args.duration}")
    if not 0.0 <= args.unknown_share <= 1.0:
        raise InputError(f"--unknown-share must be within 0..1: {args.unknown_share}")
    if args.k < 1:
        raise InputError(f"--k must be at least 1: {args.k}")
    if args.think_ms < 0:
        raise InputError(f"--think-ms must not be negative: {args.think_ms}")
    if not args.slo_ms > 0:
        raise InputError(f"--slo-ms must be positive: {args.slo_ms}")
    if not args.step_load:
        return []
    steps = parse_steps(args.steps)
    if not 1 <= args.step_seconds <= 600:
        raise InputError(f"--step-seconds must be within 1..600: {args.step_seconds}")
    if not 0 <= args.step_warmup < args.step_seconds:
        raise InputError(
            f"--step-warmup must be within 0..--step-seconds ({args.step_seconds}): "
            f"{args.step_warmup}"
        )
    if len(steps) * args.step_seconds > MAX_SECONDS:
        raise InputError(f"a step load longer than {MAX_SECONDS} s: {args.steps}")
    return steps


def check_build(build: Path) -> Path:
    """The build's user table, with at least one user id."""
    if not build.is_dir():
        raise InputError(f"--build {build} is not a directory (run `make build`)")
    table = build / USER_FEATURES
    if not table.is_file():
        raise InputError(f"{table} missing: --build is not a complete build")
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(table)
        rows = pq.ParquetFile(table).metadata.num_rows
    except Exception as exc:  # any unreadable file is bad input here
        raise InputError(f"cannot read {table}: {exc}") from None
    if "user_id" not in schema.names or rows == 0:
        raise InputError(f"{table} has no user_id values")
    return table


def gateway_url(host: str) -> str:
    """--host as a base URL on this machine."""
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"--host must be an http URL such as http://127.0.0.1:8080: {host!r}")
    if not is_loopback_host(parts.hostname):
        raise InputError(f"--host must be on this machine (127.0.0.1, ::1, localhost): {host}")
    return host.rstrip("/")


def triton_address(url: str, merlin_python: Path) -> tuple[str, int]:
    """--triton-url as (host, port) on this machine, with the interpreter bench_triton needs."""
    parts = urlsplit(url if "://" in url else f"grpc://{url}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise InputError(f"--triton-url must be host:port such as 127.0.0.1:8001: {url!r}")
    if not is_loopback_host(host):
        raise InputError(f"--triton-url must be on this machine (127.0.0.1, ::1): {url}")
    if not merlin_python.exists():
        raise InputError(f"{merlin_python} missing (run `make setup`): needed for --triton-url")
    return host, port


def check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"--out {out} exists and is not an empty directory")


def wait_ready(base: str) -> None:
    """Returns once the gateway's /readyz answers 200 (waits at most READY_TIMEOUT_S)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    problem = ""
    for _ in range(50):  # bounded in count and by the deadline
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
                problem = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            problem = f"/readyz answered HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            problem = str(getattr(exc, "reason", exc))
        if time.monotonic() > deadline:
            break
        time.sleep(0.25)
    raise InputError(f"gateway at {base} is not ready: {problem}")


def check_reachable(host: str, port: int) -> str:
    """host:port for bench_triton, once a TCP connection to Triton succeeds."""
    try:
        with socket.create_connection((host, port), timeout=2):
            pass
    except OSError as exc:
        raise InputError(f"Triton at {host}:{port} is not reachable: {exc}") from None
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def make_out(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create --out {out}: {exc}") from None
    return out


# ---------------------------------------------------------------------------------------------
# running


def locust_command(
    args: argparse.Namespace, host: str, user_ids: Path, out: Path, steps: list[int]
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "--host",
        host,
        "--spawn-rate",
        f"{args.spawn_rate:g}",
        "--csv",
        str(out / CSV_PREFIX),
        # Also a history row per name; and only then are the history's percentiles Locust's
        # "current" ones (last 10 s) rather than cumulative since the start.
        "--csv-full-history",
        "--html",
        str(out / FILES["html_report"]),
        "--user-ids",
        str(user_ids),
        "--unknown-share",
        f"{args.unknown_share:g}",
        "--k",
        str(args.k),
        "--think-ms",
        f"{args.think_ms:g}",
        "--mix-seed",
        str(args.seed),
        "--record-file",
        str(out / FILES["requests"]),
    ]
    if steps:
        # The shape ends the run after the last step; -u only labels the report.
        command += ["--users", str(max(steps)), "--step-users", ",".join(map(str, steps))]
        command += ["--step-seconds", f"{args.step_seconds:g}"]
    else:
        command += ["--users", str(args.users), "--run-time", f"{args.duration}s"]
    return command


def run_locust(command: list[str], seconds: float, log: Path) -> dict[str, float]:
    """Runs Locust to its end (killed past `seconds` + a grace period); its CPU and wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    with log.open("w") as log_file:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        limit = seconds + LOCUST_GRACE_S
        try:
            try:
                code = process.wait(timeout=limit)
            except KeyboardInterrupt:  # Locust got the SIGINT too: it writes its files and quits
                limit = LOCUST_GRACE_S
                code = process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise RunError(f"locust did not end within {limit:.0f} s; killed") from None
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    error_lines = [line for line in log.read_text().splitlines() if line.startswith("error: ")]
    if code == 2 and error_lines:
        raise InputError(error_lines[-1].removeprefix("error: "))
    if code not in (0, 1):  # 1: Locust's exit status when some requests failed
        raise RunError(f"locust exited with {code}; see {log}")
    return {"exit_code": code, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}


def run_bench_triton(args: argparse.Namespace, triton_url: str, host: str, out: Path) -> Any:
    """loadtests/bench_triton.py in the Merlin environment; its JSON report (or the error)."""
    report_path = out / BENCH_FILES["bench_triton"]
    command = [
        str(args.merlin_python),
        "-m",
        "loadtests.bench_triton",
        "--build",
        str(args.build.resolve()),
        "--url",
        triton_url,
        "--requests",
        str(args.triton_requests),
        "--concurrency",
        str(args.users),
        "--duration",
        str(args.triton_duration),
        "--model-repository",
        str(args.model_repository.resolve()),
        "--gateway-url",
        host,
        "--out",
        str(report_path.resolve()),
    ]
    log = out / BENCH_FILES["bench_triton_log"]
    with log.open("w") as log_file:
        try:
            code = subprocess.run(
                command,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # the same JSON as --out
                stderr=log_file,
                timeout=BENCH_TIMEOUT_S + args.triton_duration,
            ).returncode
        except subprocess.TimeoutExpired:
            return {"error": f"bench_triton did not end within {BENCH_TIMEOUT_S:.0f} s"}
    if code != 0 or not report_path.exists():
        return {"error": f"bench_triton exited with {code}; see {log.name}"}
    return json.loads(report_path.read_text())


# ---------------------------------------------------------------------------------------------
# figures


def latency_figures(response_ms: np.ndarray, ok: np.ndarray, seconds: float) -> dict[str, Any]:
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


def read_record(path: Path) -> dict[str, Any]:
    """requests.parquet as numpy arrays, and the wall-clock time the load started."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    metadata = table.schema.metadata or {}
    columns = {name: table.column(name).to_numpy() for name in ("seconds", "response_ms", "users")}
    columns["ok"] = np.asarray(table.column("ok").to_pylist(), dtype=bool)
    columns["case"] = np.asarray(table.column("case").to_pylist(), dtype=object)
    columns["start_unix"] = float(metadata.get(b"start_unix", b"nan"))
    return columns


def constant_figures(record: dict[str, Any]) -> dict[str, Any]:
    """The whole run, and each case (known, unknown) apart."""
    seconds = record["seconds"]
    elapsed = float(seconds.max()) if len(seconds) else 0.0
    whole = latency_figures(record["response_ms"], record["ok"], elapsed)
    by_case = {}
    for case in ("known", "unknown"):
        mask = record["case"] == case
        by_case[case] = latency_figures(record["response_ms"][mask], record["ok"][mask], elapsed)
    return {**whole, "elapsed_s": round(elapsed, 2), "by_case": by_case}


def step_figures(
    record: dict[str, Any], steps: list[int], step_seconds: float, warmup: float
) -> list[dict[str, Any]]:
    """Each step measured from `warmup` seconds after all its users run to the step's end."""
    seconds, users = record["seconds"], record["users"]
    results = []
    for index, target in enumerate(steps):
        start, end = index * step_seconds, (index + 1) * step_seconds
        in_step = (seconds >= start) & (seconds < end)
        running = np.flatnonzero(in_step & (users >= target))
        window_start = float(seconds[running[0]]) + warmup if len(running) else end
        mask = in_step & (seconds >= window_start)
        window = max(0.0, end - window_start)
        figures = latency_figures(record["response_ms"][mask], record["ok"][mask], window)
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
    return {key: best[key] for key in ("users", "requests_per_s", "p50_ms", "p95_ms", "p99_ms")}


def read_locust_stats(path: Path) -> dict[str, Any]:
    """Locust's own rows (its percentiles round to whole ms below 100 ms)."""
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
    if not path.exists():
        return []
    with path.open(newline="") as file:
        rows = [
            {"name": row["Name"], "error": row["Error"], "occurrences": int(row["Occurrences"])}
            for row in csv.DictReader(file)
        ]
    return sorted(rows, key=lambda row: -row["occurrences"])[:limit]


def number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:  # "N/A"
        return None


# ---------------------------------------------------------------------------------------------
# plot


def read_history(path: Path) -> dict[str, np.ndarray]:
    """The Aggregated rows of Locust's _stats_history.csv (one a second)."""
    wanted = {
        "Timestamp": "t",
        "User Count": "users",
        "Requests/s": "rps",
        "Failures/s": "fps",
        "50%": "p50",
        "95%": "p95",
        "99%": "p99",
    }
    columns: dict[str, list[float]] = {key: [] for key in wanted.values()}
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            if row.get("Name") != "Aggregated":
                continue
            for source, key in wanted.items():
                value = number(row[source])
                columns[key].append(np.nan if value is None else value)
    history = {key: np.asarray(values, dtype=float) for key, values in columns.items()}
    for key in ("p50", "p95", "p99"):  # 0: Locust's window held no request yet
        history[key][history[key] == 0] = np.nan
    return history


def completions_per_second(seconds: np.ndarray) -> dict[str, np.ndarray]:
    """Requests completed in each whole second since the start (from requests.parquet)."""
    if not len(seconds):
        return {"t": np.zeros(0), "rps": np.zeros(0)}
    counts = np.bincount(np.floor(seconds).astype(int).clip(min=0))[:-1]  # last one: partial
    return {"t": np.arange(len(counts)) + 0.5, "rps": counts.astype(float)}


def plot(
    history: dict[str, np.ndarray],
    path: Path,
    title: str,
    start_unix: float,
    steps: list[dict[str, Any]] | None = None,
    step_seconds: float = 0.0,
    slo_ms: float | None = None,
    per_second: dict[str, np.ndarray] | None = None,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    origin = (
        start_unix if np.isfinite(start_unix) else (history["t"][0] if len(history["t"]) else 0)
    )
    x = history["t"] - origin
    figure, (latency, throughput) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for key, label in (("p50", "p50"), ("p95", "p95"), ("p99", "p99")):
        latency.plot(x, history[key], label=f"{label} (Locust, last 10 s)")
    if steps:
        middles = [(index + 0.5) * step_seconds for index in range(len(steps))]
        p99 = [np.nan if step["p99_ms"] is None else step["p99_ms"] for step in steps]
        latency.scatter(middles, p99, color="black", zorder=3, label="p99 of each step (exact)")
        for index in range(1, len(steps)):
            for axis in (latency, throughput):
                axis.axvline(index * step_seconds, color="grey", linewidth=0.5, linestyle=":")
    if slo_ms is not None:
        latency.axhline(
            slo_ms, color="red", linestyle="--", linewidth=1, label=f"SLO {slo_ms:g} ms"
        )
    latency.set_ylabel("response time (ms)")
    latency.set_ylim(bottom=0)
    latency.legend(loc="upper left", fontsize="small")
    latency.grid(alpha=0.3)
    if per_second is not None:
        throughput.plot(
            per_second["t"],
            per_second["rps"],
            color="tab:olive",
            linewidth=0.8,
            label="requests completed in each second",
        )
    throughput.plot(x, history["rps"], color="tab:green", label="requests/s (Locust, last 10 s)")
    throughput.plot(x, history["fps"], color="tab:red", label="failures/s (Locust, last 10 s)")
    throughput.set_ylabel("per second")
    throughput.set_xlabel("seconds since the load started")
    throughput.set_ylim(bottom=0)
    throughput.grid(alpha=0.3)
    users = throughput.twinx()
    users.step(x, history["users"], where="post", color="tab:purple", alpha=0.6, label="users")
    users.set_ylabel("users")
    users.set_ylim(bottom=0)
    lines = throughput.get_legend_handles_labels()
    more = users.get_legend_handles_labels()
    throughput.legend(lines[0] + more[0], lines[1] + more[1], loc="lower right", fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


# ---------------------------------------------------------------------------------------------
# context


def machine() -> dict[str, Any]:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        cpuinfo = []
    cpu = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
        platform.processor(),
    )
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        import psutil

        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30)
    except ImportError:
        pass
    try:
        from importlib.metadata import version

        info["locust"] = version("locust")
    except Exception:
        pass
    return info


def git_commit() -> dict[str, Any]:
    def git(*arguments: str) -> str | None:
        try:
            result = subprocess.run(
                ["git", *arguments],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return result.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def busy_cores(before: Any, after: Any) -> float | None:
    """Cores the whole machine kept busy between two psutil.cpu_times() readings."""
    if before is None or after is None:
        return None
    idle = (after.idle + getattr(after, "iowait", 0)) - (before.idle + getattr(before, "iowait", 0))
    total = sum(after) - sum(before)
    cores = os.cpu_count() or 1
    return round((1 - idle / total) * cores, 2) if total > 0 else None


def cpu_times() -> Any:
    try:
        import psutil

        return psutil.cpu_times()
    except ImportError:
        return None


# ---------------------------------------------------------------------------------------------
# main


def describe(figures: dict[str, Any]) -> str:
    return (
        f"{figures['requests']} requests, {figures['failures']} failures, "
        f"{figures['requests_per_s']:.1f} requests/s, p50 {figures['p50_ms']} ms, "
        f"p95 {figures['p95_ms']} ms, p99 {figures['p99_ms']} ms"
    )


def run(args: argparse.Namespace) -> int:
    # What needs no network first, then whether the servers answer; --out is made last.
    steps = check_settings(args)
    user_ids = check_build(args.build)
    host = gateway_url(args.host)
    triton = triton_address(args.triton_url, args.merlin_python) if args.triton_url else None
    check_out(args.out)
    wait_ready(host)
    triton_url = check_reachable(*triton) if triton else None
    out = make_out(args.out)

    started = dt.datetime.now(dt.timezone.utc)
    seconds = len(steps) * args.step_seconds if steps else float(args.duration)
    settings: dict[str, Any] = {
        "mode": "step" if steps else "constant",
        "host": host,
        "build": str(args.build),
        "users": args.users if not steps else None,
        "spawn_rate": args.spawn_rate,
        "duration_s": args.duration if not steps else seconds,
        "unknown_share": args.unknown_share,
        "k": args.k,
        "think_ms": args.think_ms,
        "seed": args.seed,
        "triton_url": triton_url,
    }
    if steps:
        settings.update(
            steps=steps,
            step_seconds=args.step_seconds,
            step_warmup_s=args.step_warmup,
            slo_ms=args.slo_ms,
        )
    print(
        f"locust: {settings['mode']} load on {host} for {seconds:g} s"
        + (f" (users {','.join(map(str, steps))})" if steps else f" ({args.users} users)")
        + f", results in {out}",
        flush=True,
    )
    load_before = os.getloadavg()[0]
    times_before = cpu_times()
    locust = run_locust(
        locust_command(args, host, user_ids, out, steps), seconds, out / "locust.log"
    )
    times_after = cpu_times()
    for name in ("stats_csv", "history_csv", "requests"):
        if not (out / FILES[name]).exists():
            raise RunError(f"locust wrote no {FILES[name]}; see {out / FILES['locust_log']}")

    record = read_record(out / FILES["requests"])
    summary: dict[str, Any] = {
        "timestamp": started.isoformat(timespec="seconds"),
        "mode": settings["mode"],
        **constant_figures(record),
        "settings": settings,
        "machine": machine(),
        "git": git_commit(),
        "cpu": {
            "locust_cores": round(locust["cpu_s"] / locust["wall_s"], 2)
            if locust["wall_s"]
            else None,
            "machine_busy_cores": busy_cores(times_before, times_after),
            "load_average_1m_before": round(load_before, 2),
            "load_average_1m_after": round(os.getloadavg()[0], 2),
        },
        "locust": {
            "exit_code": locust["exit_code"],
            "stats": read_locust_stats(out / FILES["stats_csv"]),
        },
        "failure_reasons": read_failures(out / FILES["failures_csv"]),
    }
    step_results: list[dict[str, Any]] | None = None
    if steps:
        step_results = step_figures(record, steps, args.step_seconds, args.step_warmup)
        summary["steps"] = step_results
        summary["best_under_slo"] = best_under_slo(step_results, args.slo_ms)
    title = (
        f"{settings['mode']} load, {host}: "
        + (f"users {','.join(map(str, steps))}" if steps else f"{args.users} users")
        + f", {summary['requests_per_s']:.0f} requests/s overall"
    )
    plot(
        read_history(out / FILES["history_csv"]),
        out / FILES["plot"],
        title,
        record["start_unix"],
        step_results,
        args.step_seconds,
        args.slo_ms if steps else None,
        completions_per_second(record["seconds"]),
    )
    if triton_url:
        print(f"bench_triton: direct gRPC to {triton_url}, then through the gateway", flush=True)
        summary["bench_triton"] = run_bench_triton(args, triton_url, host, out)
    files = {**FILES, **(BENCH_FILES if triton_url else {})}
    summary["files"] = {key: name for key, name in files.items() if (out / name).exists()}
    summary["files"]["summary"] = FILES["summary"]
    (out / FILES["summary"]).write_text(json.dumps(summary, indent=2) + "\n")

    print(f"overall: {describe(summary)}")
    for case, figures in summary["by_case"].items():
        if figures["requests"]:
            print(f"  {case}: {describe(figures)}")
    if step_results is not None:
        print(f"steps (each measured after {args.step_warmup:g} s of warm-up):")
        print("  users  requests/s    p50 ms    p95 ms    p99 ms  failures")
        for step in step_results:
            print(
                f"  {step['users']:5d}  {step['requests_per_s']:10.1f}  {step['p50_ms'] or 0:8.2f}"
                f"  {step['p95_ms'] or 0:8.2f}  {step['p99_ms'] or 0:8.2f}  {step['failures']:8d}"
            )
        best = summary["best_under_slo"]
        if best:
            print(
                f"best under the SLO (p99 <= {args.slo_ms:g} ms, no failures): "
                f"{best['requests_per_s']:.1f} requests/s at {best['users']} users "
                f"(p99 {best['p99_ms']} ms)"
            )
        else:
            print(f"no step kept p99 <= {args.slo_ms:g} ms without failures")
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
    return 1 if summary["failures"] else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
