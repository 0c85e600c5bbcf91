"""growth.png: the build's stages against rows (left) and retrieval against catalogue size
(right), from bench_build_growth's and bench_catalogue's JSON (not a test).

    python -m loadtests.growth_plot --builds growth.json --catalogue catalogue_size.json \
        --out docs/results/benchmarks/growth.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

STAGES = (
    "data",
    "features",
    "retrieval",
    "ranking",
    "choices",
    "evaluation",
    "save_models",
    "online_store",
)


def plot(builds: dict[str, Any], catalogue: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    rows = [build["rows"] for build in builds["builds"]]
    for stage in STAGES:
        left.plot(
            rows, [b["stages_s"].get(stage, 0.0) for b in builds["builds"]], marker="o", label=stage
        )
    left.plot(
        rows, [b["wall_s"] for b in builds["builds"]], "k--", marker="s", label="whole build (wall)"
    )
    memory = left.twinx()
    memory.plot(rows, [b["peak_rss_mb"] / 1024 for b in builds["builds"]], "r:", marker="^")
    memory.set_ylabel("peak RSS, GB (red, dotted)")
    left.set(xscale="log", yscale="log", xlabel="rows", ylabel="seconds", title="build")
    left.legend(fontsize=7, loc="upper left")
    items = [size["items"] for size in catalogue["sizes"]]
    for kind in ("exact", "ivf"):
        right.plot(
            items,
            [s[kind]["search_p50_ms"] for s in catalogue["sizes"]],
            marker="o",
            label=f"{kind} p50",
        )
        right.plot(
            items,
            [s[kind]["search_p99_ms"] for s in catalogue["sizes"]],
            marker=".",
            linestyle=":",
            label=f"{kind} p99",
        )
    for size in catalogue["sizes"]:
        right.annotate(
            f"recall {size['ivf']['recall_at_100']:.2f}",
            (size["items"], size["ivf"]["search_p50_ms"]),
            fontsize=7,
        )
    right.set(
        xscale="log",
        yscale="log",
        xlabel="catalogue items",
        ylabel="ms per user (one query)",
        title="retrieval (faiss, one thread)",
    )
    right.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=Path, required=True)
    parser.add_argument("--catalogue", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    plot(json.loads(args.builds.read_text()), json.loads(args.catalogue.read_text()), args.out)
    print(args.out)


if __name__ == "__main__":
    main()
