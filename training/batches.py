"""Running a Keras (Merlin Models) model over a DataFrame's columns in batches."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import tensorflow as tf


def run_in_batches(
    model: tf.keras.Model, frame: pd.DataFrame, columns: Sequence[str], batch_size: int
) -> np.ndarray:
    """The model's output for every row, float32, batches concatenated along the rows.

    A dict output (a Merlin prediction task) is reduced to its first value.
    """
    chunks = []
    for start in range(0, len(frame), batch_size):
        part = frame.iloc[start : start + batch_size]
        output = model({name: tf.constant(part[name].to_numpy()[:, None]) for name in columns})
        if isinstance(output, dict):
            output = next(iter(output.values()))
        chunks.append(np.asarray(output, dtype=np.float32))
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=np.float32)
