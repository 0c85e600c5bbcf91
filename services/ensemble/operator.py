"""The stages as merlin.dag operators: the Merlin Systems ensemble the build exports.

The graph is a chain: `serving_graph` wraps each stage in a `StageOperator`, and building the
Ensemble computes every operator's output schema, which checks the wiring (a stage reading a
column nothing earlier writes raises WiringError here, not a KeyError per request). Merlin's
export pickles the graph and calls each operator's `save_artifacts`; `STAGES_FILE` beside it
lists the same stages in execution order, which the model process unpickles without merlin.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from merlin.core.protocols import Transformable
from merlin.dag import BaseOperator, postorder_iter_nodes
from merlin.dag.selector import ColumnSelector
from merlin.schema import ColumnSchema, Schema
from merlin.systems.dag import Ensemble

from services.ensemble.contract import INPUT
from services.ensemble.stages.base import STAGES_FILE, Stage

REQUEST_SCHEMA = Schema([ColumnSchema(INPUT, dtype=np.int32, dims=(None,))])


class StageOperator(BaseOperator):  # type: ignore[misc]  # merlin.dag is untyped
    """One stage in a merlin.dag graph: its declared columns, its artifacts."""

    def __init__(self, stage: Stage) -> None:
        super().__init__()
        self.stage = stage

    @property
    def label(self) -> str:
        return self.stage.label

    def compute_output_schema(
        self,
        input_schema: Schema,
        col_selector: ColumnSelector,
        prev_output_schema: Schema | None = None,
    ) -> Schema:
        self.stage.check_reads(input_schema.column_names)
        added = [
            ColumnSchema(name, dtype=dtype, dims=dims)
            for name, (dtype, dims) in self.stage.writes.items()
        ]
        return input_schema + Schema(added)

    def transform(
        self, col_selector: ColumnSelector, transformable: Transformable
    ) -> Transformable:
        columns = {name: np.asarray(transformable[name].values) for name in transformable.columns}
        return type(transformable)({**columns, **self.stage.run(columns)})

    def save_artifacts(self, artifact_path: Any = None) -> None:
        self.stage.save_artifacts(artifact_path)

    def load_artifacts(self, artifact_path: Any = None) -> None:
        self.stage.load_artifacts(artifact_path)


def serving_graph(stages: Sequence[Stage], outputs: Sequence[str] | None = None) -> Ensemble:
    """The Ensemble running `stages` in order on the request's user ids; its outputs are
    `outputs` (every column when None)."""
    node: Any = [INPUT]
    for stage in stages:
        node = node >> StageOperator(stage)
    return Ensemble(node[list(outputs)] if outputs is not None else node, REQUEST_SCHEMA)


def stages_of(ensemble: Ensemble) -> list[Stage]:
    """The ensemble's stages in execution order."""
    nodes = postorder_iter_nodes(ensemble.graph.output_node, flatten_subgraphs=True)
    return [node.op.stage for node in nodes if isinstance(node.op, StageOperator)]


def write_stages(stages: Sequence[Stage], ensemble_dir: Path, name: str = STAGES_FILE) -> None:
    """`name` (a pickled list of `stages`) in the exported ensemble folder (heavy state is
    never pickled: see `Stage.__getstate__`)."""
    (ensemble_dir / name).write_bytes(pickle.dumps(list(stages)))
