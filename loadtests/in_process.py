"""The exported serving graph run in this process (no Triton): for the benchmark and the tests.

Not part of services/ensemble on purpose: nothing here is copied into the model repository.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from services.ensemble.contract import MODEL_NAME
from services.ensemble.executor import Executor
from services.ensemble.repository import VERSION
from services.ensemble.stages import Columns, Stage


def load_exported(repository: Path) -> Executor:
    """The exported graph with its artifacts loaded, as the executor model does."""
    return Executor.from_version_dir(repository / MODEL_NAME / VERSION)


def recommend(executor: Executor, user_ids: list[int]) -> dict[str, Any]:
    return executor.answer(np.asarray(user_ids, dtype=np.int32))


@contextmanager
def timed_stages(executor: Executor) -> Iterator[dict[str, float]]:
    """Cumulative wall time per stage label while the block runs."""
    seconds: dict[str, float] = {}
    originals = [stage.run for stage in executor.stages]

    def timed(stage: Stage, run: Callable[[Columns], Columns]) -> Callable[[Columns], Columns]:
        def wrapper(columns: Columns) -> Columns:
            start = time.perf_counter()
            try:
                return run(columns)
            finally:
                elapsed = time.perf_counter() - start
                seconds[stage.label] = seconds.get(stage.label, 0.0) + elapsed

        return wrapper

    for stage, run in zip(executor.stages, originals, strict=True):
        # patched per instance (the wrapper's type is positional-only), put back below
        stage.run = timed(stage, run)  # type: ignore[method-assign, assignment]
    try:
        yield seconds
    finally:
        for stage, run in zip(executor.stages, originals, strict=True):
            stage.run = run  # type: ignore[method-assign]
