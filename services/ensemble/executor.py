"""Serving the exported graph in this process: load it, run its stages in order, watch outages.

The Triton model (model_template/model.py) is a thin layer over `Executor`: it turns
`BadRequest` into INVALID_ARG, `OnlineStoreUnavailable` into UNAVAILABLE (retryable) and
anything else into INTERNAL. The stages run directly, not through merlin.dag's executor,
which logs a full traceback for every failing request.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.ensemble.contract import INPUT, OUTPUTS
from services.ensemble.redis_store import OnlineStoreUnavailable
from services.ensemble.stages import Columns, Stage

THREAD_VARIABLES = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


class BadRequest(ValueError):
    """The request itself is wrong (the client must change it)."""


def limit_threads(threads: int) -> None:
    """At most `threads` TensorFlow and OpenMP threads in this process (Triton runs one process
    per instance: the instances share the cores). Must run before TensorFlow is imported."""
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, str(threads))
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # already initialized by an earlier import: keep what it has
        pass


def load_stages(ensemble_dir: Path) -> list[Stage]:
    """The exported graph's stages in execution order, their artifacts loaded."""
    from merlin.dag import postorder_iter_nodes
    from merlin.systems.dag import Ensemble

    ensemble = Ensemble.load(str(ensemble_dir))
    nodes = postorder_iter_nodes(ensemble.graph.output_node, flatten_subgraphs=True)
    stages = [node.op for node in nodes if isinstance(node.op, Stage)]
    for stage in stages:
        stage.load_artifacts(str(ensemble_dir))
    return stages


class Executor:
    def __init__(self, stages: list[Stage]) -> None:
        self.stages = stages

    @classmethod
    def from_version_dir(cls, version_dir: Path) -> Executor:
        return cls(load_stages(version_dir / "ensemble"))

    def answer(self, user_ids: NDArray[Any]) -> Columns:
        """The contract's outputs for `user_ids` (one row per id)."""
        user_ids = np.asarray(user_ids).reshape(-1)
        if user_ids.size == 0:
            raise BadRequest(f"{INPUT} must hold at least one user id")
        columns: Columns = {INPUT: user_ids.astype(np.int32)}
        for stage in self.stages:
            columns.update(stage.run(columns))
        return {name: columns[name] for name in OUTPUTS}


class OutageLog:
    """One log line when the online store becomes unavailable (or the reason changes), one when
    it answers again: never one per failed request."""

    def __init__(self, log: Callable[[str], None], clock: Callable[[], float] = time.monotonic):
        self._log = log
        self._clock = clock
        self._kind: type[OnlineStoreUnavailable] | None = None
        self._since = 0.0
        self._failed = 0

    def failed(self, error: OnlineStoreUnavailable) -> None:
        self._failed += 1
        if type(error) is self._kind:
            return
        if self._kind is None:
            self._since = self._clock()
        self._kind = type(error)
        cause = f" ({error.__cause__!r})" if error.__cause__ else ""
        self._log(f"{error}{cause}; failing requests with UNAVAILABLE until it recovers")

    def succeeded(self) -> None:
        if self._kind is None:
            return
        seconds = self._clock() - self._since
        self._log(
            f"online store available again after {seconds:.1f} s ({self._failed} requests failed)"
        )
        self._kind, self._failed = None, 0
