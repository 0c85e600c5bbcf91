"""`make results`: the figures docs/ quotes, measured anew into docs/results/.

Per data set (each generator with a held-back future, and every real log given as `--data
NAME=DIR` in the raw schema with DIR/future.parquet): the stack started by `deploy.stack run` on
private ports and directories (it builds from the data first), the build's evaluation table and
timings (builds/NAME.json, from its manifest), the served top-10 through the gateway on the
held-back future beside most clicked and EASE (quality/NAME.json, loadtests.heldout_quality);
on the first data set also direct gRPC and the stage profile (benchmarks/bench_triton.json,
loadtests.bench_triton) and the gateway step load (benchmarks/steps/, loadtests.run). Then
summary.md: tables made from those files, with the command that made them.

    .venvs/merlin/bin/python -m loadtests.results --out docs/results [--rows 100000]
        [--generators planted,longtail,ratings] [--data movielens=data/movielens] [--no-bench]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtests.errors import InputError, RunError
from loadtests.results_summary import write_summary
from training.build import manifest as build_manifest

REPO_ROOT = Path(__file__).resolve().parents[1]
MERLIN_PYTHON = REPO_ROOT / ".venvs" / "merlin" / "bin" / "python"
LOADTEST_PYTHON = REPO_ROOT / ".venvs" / "loadtest" / "bin" / "python"
GENERATORS = ("planted", "longtail", "ratings")
SEED = 42
STEPS = "1,2,4,8,12,16,24,32"
KEPT_STEP_FILES = ("summary.json", "latency_throughput.png", "locust_stats.csv")
"""What docs/ keeps of a step-load run (every request and Locust's HTML report stay out)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class DataSet:
    name: str
    data_dir: Path


@dataclass(frozen=True)
class Stack:
    """One data set's stack: its directories and private ports."""

    work: Path
    data_dir: Path
    redis_port: int
    grpc_port: int
    gateway_port: int

    @property
    def build_dir(self) -> Path:
        return self.work / "build"

    @property
    def repository(self) -> Path:
        return self.work / "model_repository"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "BUILD_DIR": str(self.build_dir),
            "MODEL_REPOSITORY": str(self.repository),
            "RUN_DIR": str(self.work / "run"),
            "DATA": str(self.data_dir),
            "RECSYS_REDIS_PORT": str(self.redis_port),
            "TRITON_HTTP_PORT": str(free_port()),
            "TRITON_GRPC_PORT": str(self.grpc_port),
            "TRITON_METRICS_PORT": str(free_port()),
            "GATEWAY_PORT": str(self.gateway_port),
        }


def run(command: Sequence[str], env: dict[str, str] | None = None) -> None:
    print("+ " + " ".join(command), flush=True)
    done = subprocess.run(list(command), cwd=REPO_ROOT, env=env)
    if done.returncode != 0:
        raise RunError(f"{command[2] if len(command) > 2 else command[0]} exited {done.returncode}")


@contextmanager
def started(stack: Stack) -> Iterator[Stack]:
    """The stack up on its build (made first when missing); stopped whatever happens."""
    env = stack.env()
    try:
        run([str(MERLIN_PYTHON), "-m", "deploy.stack", "run"], env)
        yield stack
    finally:
        subprocess.run([str(MERLIN_PYTHON), "-m", "deploy.stack", "stop"], cwd=REPO_ROOT, env=env)


def measure(data_set: DataSet, work: Path, out: Path, bench: bool) -> None:
    stack = Stack(work / data_set.name, data_set.data_dir, free_port(), free_port(), free_port())
    shutil.rmtree(stack.work, ignore_errors=True)  # a build of its own, made now
    with started(stack):
        manifest = build_manifest.read(stack.build_dir)
        build = {key: manifest.get(key) for key in ("source", "rows", "timings_s", "peak_rss_mb")}
        build["evaluation"] = manifest.get("evaluation")
        build["ordering"] = manifest.get("ordering")
        write_json(out / "builds" / f"{data_set.name}.json", build)
        run(
            [
                *(str(MERLIN_PYTHON), "-m", "loadtests.heldout_quality"),
                *("--data", str(data_set.data_dir), "--gateway", stack.gateway_url),
                *("--out", str(out / "quality" / f"{data_set.name}.json")),
            ]
        )
        if bench:
            benchmark(stack, out / "benchmarks")


def benchmark(stack: Stack, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    run(
        [
            *(str(MERLIN_PYTHON), "-m", "loadtests.bench_triton", "--build", str(stack.build_dir)),
            *("--url", stack.grpc_url, "--model-repository", str(stack.repository)),
            *("--gateway-url", stack.gateway_url, "--out", str(out / "bench_triton.json")),
        ],
        {**os.environ, "REDIS_URL": stack.redis_url},
    )
    steps = out / "steps"
    shutil.rmtree(steps, ignore_errors=True)
    run(
        [
            *(str(LOADTEST_PYTHON), "-m", "loadtests.run", "--build", str(stack.build_dir)),
            *("--host", stack.gateway_url, "--step-load", "--steps", STEPS),
            *("--step-seconds", "15", "--slo-ms", "50", "--out", str(steps)),
        ]
    )
    for path in steps.iterdir():
        if path.name not in KEPT_STEP_FILES:
            path.unlink()


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def generated(name: str, rows: int, work: Path) -> DataSet:
    """A generator's data with a held-back future (`python -m training generate`)."""
    data_dir = work / "data" / name
    shutil.rmtree(data_dir, ignore_errors=True)
    run(
        [
            *(str(MERLIN_PYTHON), "-m", "training", "generate", "--synthetic", name),
            *("--rows", str(rows), "--seed", str(SEED), "--out", str(data_dir)),
        ]
    )
    return DataSet(name, data_dir)


def real_log(spec: str) -> DataSet:
    name, _, path = spec.partition("=")
    data_dir = Path(path)
    if not name or not path:
        raise InputError(f"--data {spec!r}: give NAME=DIR")
    if not (data_dir / "future.parquet").exists():
        raise InputError(f"--data {spec!r}: {data_dir}/future.parquet missing")
    return DataSet(name, data_dir)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "results")
    parser.add_argument("--work", type=Path, default=REPO_ROOT / "results" / "work")
    parser.add_argument("--rows", type=int, default=100_000, help="generator rows per data set")
    parser.add_argument("--generators", default=",".join(GENERATORS))
    parser.add_argument("--data", action="append", default=[], help="NAME=DIR, a real log")
    parser.add_argument("--no-bench", action="store_true", help="quality and builds only")
    args = parser.parse_args(argv)
    unknown = set(generator_names(args)) - set(GENERATORS)
    if unknown:
        parser.error(f"--generators: unknown {', '.join(sorted(unknown))}")
    if args.rows < 1000:
        parser.error("--rows: at least 1000")
    return args


def generator_names(args: argparse.Namespace) -> list[str]:
    return [name for name in str(args.generators).split(",") if name]


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        real = [real_log(spec) for spec in args.data]
        generated_sets = [generated(name, args.rows, args.work) for name in generator_names(args)]
        data_sets = generated_sets + real
        for index, data_set in enumerate(data_sets):
            measure(data_set, args.work, args.out, bench=index == 0 and not args.no_bench)
        write_summary(args.out, [d.name for d in data_sets], args.rows, SEED)
    except (InputError, RunError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, InputError) else 1
    print(f"results in {args.out}; tables in {args.out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
