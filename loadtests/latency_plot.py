"""latency_throughput.png: latency percentiles (top) and throughput and users (bottom) over time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray


def plot(
    history: dict[str, NDArray[Any]],
    path: Path,
    title: str,
    start_unix: float,
    per_second: tuple[NDArray[Any], NDArray[Any]],
    steps: list[dict[str, Any]] | None = None,
    step_seconds: float = 0.0,
    slo_ms: float | None = None,
) -> None:
    """`history`: Locust's (locust_csv.read_history); `per_second`: completions in each second."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    origin = (
        start_unix if np.isfinite(start_unix) else (history["t"][0] if len(history["t"]) else 0)
    )
    x = history["t"] - origin
    figure, (latency, throughput) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    _latency(latency, x, history, steps, step_seconds, slo_ms)
    _throughput(throughput, x, history, per_second)
    if steps:
        for index in range(1, len(steps)):
            for axis in (latency, throughput):
                axis.axvline(index * step_seconds, color="grey", linewidth=0.5, linestyle=":")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _latency(
    axis: Any,
    x: NDArray[Any],
    history: dict[str, NDArray[Any]],
    steps: list[dict[str, Any]] | None,
    step_seconds: float,
    slo_ms: float | None,
) -> None:
    for key in ("p50", "p95", "p99"):
        axis.plot(x, history[key], label=f"{key} (Locust, last 10 s)")
    if steps:
        middles = [(index + 0.5) * step_seconds for index in range(len(steps))]
        p99 = [np.nan if step["p99_ms"] is None else step["p99_ms"] for step in steps]
        axis.scatter(middles, p99, color="black", zorder=3, label="p99 of each step (exact)")
    if slo_ms is not None:
        axis.axhline(slo_ms, color="red", linestyle="--", linewidth=1, label=f"SLO {slo_ms:g} ms")
    axis.set_ylabel("response time (ms)")
    axis.set_ylim(bottom=0)
    axis.legend(loc="upper left", fontsize="small")
    axis.grid(alpha=0.3)


def _throughput(
    axis: Any,
    x: NDArray[Any],
    history: dict[str, NDArray[Any]],
    per_second: tuple[NDArray[Any], NDArray[Any]],
) -> None:
    seconds, completed = per_second
    axis.plot(
        seconds,
        completed,
        color="tab:olive",
        linewidth=0.8,
        label="requests completed in each second",
    )
    axis.plot(x, history["rps"], color="tab:green", label="requests/s (Locust, last 10 s)")
    axis.plot(x, history["fps"], color="tab:red", label="failures/s (Locust, last 10 s)")
    axis.set_ylabel("per second")
    axis.set_xlabel("seconds since the load started")
    axis.set_ylim(bottom=0)
    axis.grid(alpha=0.3)
    users = axis.twinx()
    users.step(x, history["users"], where="post", color="tab:purple", alpha=0.6, label="users")
    users.set_ylabel("users")
    users.set_ylim(bottom=0)
    lines = axis.get_legend_handles_labels()
    more = users.get_legend_handles_labels()
    axis.legend(lines[0] + more[0], lines[1] + more[1], loc="lower right", fontsize="small")
