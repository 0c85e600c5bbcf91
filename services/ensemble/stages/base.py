"""The base of every stage: named input and output columns, checked when the graph is built.

A stage reads the columns it names in its constructor and adds its own; every input column
passes through, so later stages can use what earlier ones produced. A request holds n user ids;
per-user columns have n rows, per-candidate columns n*K rows (K candidates per user, row-major).

Heavy state (TensorFlow models, the faiss index, Redis connections) is never pickled with the
graph: `save_artifacts` copies the files into the exported model repository and
`load_artifacts` loads them from there, so the repository can be served from any path.

Nothing here imports merlin: the model process unpickles and runs the stages without it (about
150 MB less memory per process). `services/ensemble/operator.py` makes a stage a merlin.dag
operator for building and exporting the graph.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

Columns = dict[str, NDArray[Any]]
ColumnType = tuple[Any, tuple[int | None, ...]]
"""(numpy dtype, dims) of an output column."""
PER_ROW: tuple[int | None, ...] = (None,)
PER_USER_LIST: tuple[int | None, ...] = (None, None)
FLAG = np.dtype("bool")
STAGES_FILE = "stages.pkl"
"""The exported ensemble's stages in execution order (a pickled list), read by the model."""
STANDBY_FILE = "standby.pkl"
"""The standby graph's stages (services/ensemble/graph.py), beside them."""


class WiringError(ValueError):
    """A stage reads a column no earlier stage (nor the request) provides."""


class Stage:
    """Base of the stages: declared columns, artifacts copied at export, loaded at serve."""

    artifact: str | None = None
    """Name of this stage's file or folder in the exported repository, if it has one."""
    runtime_attributes: tuple[str, ...] = ()
    """Attributes set only in a serving process (connections, run-time items): never pickled,
    the class' defaults apply after unpickling."""

    def __init__(
        self,
        reads: Iterable[str],
        writes: Mapping[str, ColumnType],
        source: Path | None = None,
    ) -> None:
        self.reads = tuple(reads)
        self.writes = dict(writes)
        self.source = source
        self._state: Any = None

    @property
    def label(self) -> str:
        """The stage's name in errors and timings."""
        return type(self).__name__

    def check_reads(self, available: Iterable[str]) -> None:
        """Raise WiringError if a column this stage reads is not among `available`."""
        present = set(available)
        missing = [name for name in self.reads if name not in present]
        if missing:
            raise WiringError(
                f"{self.label} reads {missing}, which no earlier stage writes "
                f"(available: {sorted(present)})"
            )

    def run(self, columns: Columns) -> Columns:
        """The columns this stage writes, computed from those it reads."""
        raise NotImplementedError

    def check_loaded(self, what: str, found: Iterable[str], expected: Iterable[str]) -> None:
        """Raise WiringError if what an artifact provides differs from what the graph expects."""
        if list(found) != list(expected):
            raise WiringError(
                f"{self.label}: {what} has {list(found)}, the graph expects {list(expected)}"
            )

    @property
    def state(self) -> Any:
        if self._state is None:
            raise RuntimeError(f"{self.label}: artifacts not loaded")
        return self._state

    # -- artifacts --------------------------------------------------------------------------
    def save_artifacts(self, artifact_path: Any = None) -> None:
        if self.artifact is None or not artifact_path or self.source is None:
            return
        target = Path(artifact_path) / self.artifact
        if self.source.is_dir():
            shutil.copytree(self.source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(self.source, target)

    def load_artifacts(self, artifact_path: Any = None) -> None:
        if self.artifact is None:
            self._state = self.connect()
            return
        exported = Path(artifact_path) / self.artifact if artifact_path else None
        if exported is not None and exported.exists():
            self._state = self.load(exported)
        elif self.source is not None:
            self._state = self.load(self.source)

    def load(self, path: Path) -> Any:
        """This stage's state, from its artifact at `path`."""
        return None

    def connect(self) -> Any:
        """The state of a stage without an artifact (e.g. a connection)."""
        return None

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in self.runtime_attributes}
        state["_state"] = None
        state["source"] = None  # a build-time path: the export holds its own copy
        return state
