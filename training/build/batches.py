"""Running a Keras (Merlin Models) model over a DataFrame's columns in batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import tensorflow as tf

from training.data.schema import TARGET


def input_columns(model: tf.keras.Model) -> list[str]:
    """The feature columns a Merlin model reads (its schema without the target)."""
    return [name for name in model.schema.column_names if name != TARGET]


def first_output(output: tf.Tensor | dict[str, tf.Tensor]) -> tf.Tensor:
    """A model's answer: a dict output (a Merlin prediction task) reduced to its first value."""
    return next(iter(output.values())) if isinstance(output, dict) else output


def run_in_batches(
    model: tf.keras.Model, frame: pd.DataFrame, columns: Sequence[str], batch_size: int
) -> npt.NDArray[np.float32]:
    """The model's output (`first_output`) for every row, float32, batches concatenated
    along the rows."""
    call = graph_of(model)
    chunks = []
    for start in range(0, len(frame), batch_size):
        part = frame.iloc[start : start + batch_size]
        output = call({name: tf.constant(part[name].to_numpy()[:, None]) for name in columns})
        chunks.append(np.asarray(first_output(output), dtype=np.float32))
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=np.float32)


def graph_of(model: tf.keras.Model) -> Callable[[dict[str, tf.Tensor]], Any]:
    """The model's inference call as one TensorFlow graph, traced once per model (without
    AutoGraph, as training and the saved signature are) and kept on it: an eager call runs
    each Merlin layer's Python every batch, a graph only the ops. It reads the model's
    variables, so later training or restored weights are what it computes with."""
    call: Callable[[dict[str, tf.Tensor]], Any] | None = getattr(model, _GRAPH_ATTRIBUTE, None)
    if call is None:
        call = tf.function(
            lambda inputs: model(inputs, training=False), autograph=False, reduce_retracing=True
        )
        object.__setattr__(model, _GRAPH_ATTRIBUTE, call)
    return call


_GRAPH_ATTRIBUTE = "_batches_inference_graph"
