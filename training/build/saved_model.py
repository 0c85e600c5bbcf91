"""Save a trained model (the query tower, the DLRM) as the Keras SavedModel serving reads.

Keras' default save traces every layer's call so the model can be revived without its code
(about 6 s a model on our 2-core machines, most of the build's `save_models` stage). Merlin's
layers rebuild from their configs instead (`tf.keras.models.load_model` with merlin.models.tf
imported gives the same answers), so only the one function serving needs is traced: the
`serving_default` signature, one int32 [n] input per feature column, as Keras made it before.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from training.build.batches import first_output, input_columns


def save(model: tf.keras.Model, path: Path, output: str) -> None:
    """Write `model` to `path`; its signature's one output is named `output`."""
    spec = {name: tf.TensorSpec([None], tf.int32, name=name) for name in input_columns(model)}

    @tf.function(input_signature=[spec])  # type: ignore[misc]  # tensorflow has no type stubs
    def serve(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return {output: first_output(model(inputs))}

    # Merlin's Model.save takes no `signatures`; Keras' own save of the same object does.
    tf.keras.Model.save(model, str(path), save_traces=False, signatures={"serving_default": serve})
