"""The build's cost as the data grows: wall time and peak memory per stage (not a test).

    python -m loadtests.bench_build_growth --rows 100000,300000,1000000 [--out growth.json]
        [--synthetic planted] [--work DIR]

Runs `python -m training build --rows N` for each N, one after the other (each in its own
process, into DIR/build_N, materialized into REDIS_URL), and collects each build's manifest:
per-stage seconds, the whole build's wall time (process start to exit, imports included), its
peak RSS and the catalogue's size. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from loadtests.machine import machine


def one_build(rows: int, synthetic: str, out: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "training", "build", "--out", str(out), "--rows", str(rows)]
    started = time.perf_counter()
    subprocess.run([*command, "--synthetic", synthetic], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    manifest = json.loads((out / "manifest.json").read_text())
    return {
        "rows": rows,
        "wall_s": round(wall, 1),
        "total_s": round(manifest["timings_s"]["total"], 1),
        "peak_rss_mb": round(manifest["peak_rss_mb"]),
        "items": manifest["items"],
        "users": manifest["users"],
        "stages_s": {k: round(v, 2) for k, v in manifest["timings_s"].items() if k != "total"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,300000,1000000")
    parser.add_argument("--synthetic", default="planted")
    parser.add_argument("--work", type=Path, help="where the builds go (default: a temporary one)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        builds = []
        for rows in (int(value) for value in args.rows.split(",")):
            builds.append(one_build(rows, args.synthetic, work / f"build_{rows}"))
            print(json.dumps(builds[-1]), flush=True)
    document = {"machine": machine("tensorflow"), "synthetic": args.synthetic, "builds": builds}
    text = json.dumps(document, indent=1)
    if args.out is not None:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
