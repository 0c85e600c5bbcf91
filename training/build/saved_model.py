"""Save a trained model (the query tower, the DLRM) as the Keras SavedModel serving reads.

Keras' default save traces every layer's call so the model can be revived without its code
(about 6 s a model on our 2-core machines, most of the build's `save_models` stage). Merlin's
layers rebuild from their configs instead (`tf.keras.models.load_model` with merlin.models.tf
imported gives the same answers), so only the one function serving needs is traced: the
`serving_default` signature, one int32 [n] input per feature column, as Keras made it before,
and without AutoGraph (the three saves of a 100k build: 5.2-5.6 s with it, 2.0-2.2 s without).
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from training.build.batches import first_output, input_columns


def save(model: tf.keras.Model, path: Path, output: str) -> None:
    """Write `model` to `path`; its signature's one output is named `output`."""
    spec = {name: tf.TensorSpec([None], tf.int32, name=name) for name in input_columns(model)}

    # Without AutoGraph, as in training (training/build/convergence.py): it would rewrite every
    # Merlin layer's source before tracing, most of the first save's time; the graph is the same.
    @tf.function(input_signature=[spec], autograph=False)  # type: ignore[misc]  # no type stubs
    def serve(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return {output: first_output(model(inputs))}

    # Merlin's Model.save takes no `signatures`; Keras' own save of the same object does.
    tf.keras.Model.save(model, str(path), save_traces=False, signatures={"serving_default": serve})
