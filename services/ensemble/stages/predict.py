"""Stage: a Keras SavedModel (Merlin Models) run in this process through its serving signature."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from services.ensemble.stages.base import PER_USER_LIST, Columns, Stage


class PredictInProcess(Stage):
    """Columns named by `inputs` (model input -> column) -> the model's output in `output`.

    `inputs` must name every input of the model's serving signature (checked at load).
    """

    def __init__(
        self, source: Path | None, artifact: str, inputs: Mapping[str, str], output: str
    ) -> None:
        super().__init__(
            reads=tuple(inputs.values()),
            writes={output: (np.float32, PER_USER_LIST)},
            source=source,
        )
        self.artifact = artifact
        self.inputs = dict(inputs)
        self.output = output

    @property
    def label(self) -> str:
        return f"Predict[{self.artifact}]"

    def load(self, path: Path) -> Any:
        import merlin.models.tf  # noqa: F401 - registers the custom layers the model needs
        import tensorflow as tf

        model = tf.saved_model.load(str(path))
        signature = model.signatures["serving_default"]
        takes = sorted(signature.structured_input_signature[1])
        self.check_loaded("the model's signature", takes, sorted(self.inputs))
        return model, signature

    def run(self, columns: Columns) -> Columns:
        import tensorflow as tf

        _, signature = self.state
        tensors = {
            name: tf.constant(columns[column].reshape(-1).astype(np.int32))
            for name, column in self.inputs.items()
        }
        result = next(iter(signature(**tensors).values()))
        return {self.output: result.numpy().astype(np.float32)}
