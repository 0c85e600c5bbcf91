"""Running a Keras (Merlin Models) model over a DataFrame's columns in batches."""

from __future__ import annotations

from collections.abc import Sequence

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
    chunks = []
    for start in range(0, len(frame), batch_size):
        part = frame.iloc[start : start + batch_size]
        output = model({name: tf.constant(part[name].to_numpy()[:, None]) for name in columns})
        chunks.append(np.asarray(first_output(output), dtype=np.float32))
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=np.float32)
