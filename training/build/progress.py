"""The build's progress on stderr: each stage's wall time and peak memory, and metric lines."""

from __future__ import annotations

import contextlib
import resource
import sys
import time
from collections.abc import Iterator, Mapping


class StageTimer:
    """Prints each stage as it ends and keeps its wall time."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.started = time.perf_counter()

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 2)
        log(f"{name:<14} {self.seconds[name]:7.2f} s (peak RSS so far {peak_rss_mb():.0f} MB)")

    def total(self) -> float:
        return round(time.perf_counter() - self.started, 2)


def log(message: str) -> None:
    print(f"[build] {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def format_metrics(name: str, values: Mapping[str, object]) -> str:
    shown = ", ".join(
        f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
    )
    return f"{name}: {shown}"
