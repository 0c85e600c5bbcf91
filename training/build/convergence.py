"""Training to convergence, chosen by validation: one epoch at a time, a score on held-out
rows after each, stop after `patience` epochs without a better score, keep the best weights."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import tensorflow as tf


@dataclass
class Curve:
    """The held-out score after each epoch, and which epoch's weights were kept (1-based)."""

    metric: str
    scores: list[float] = field(default_factory=list)
    best_epoch: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "by_epoch": [round(s, 4) for s in self.scores],
            "best_epoch": self.best_epoch,
            "epochs_run": len(self.scores),
        }


def fit_until_no_better(
    model: tf.keras.Model,
    one_epoch: Callable[[], None],
    score: Callable[[], float],
    metric: str,
    max_epochs: int,
    patience: int,
    min_gain: float = 0.0,
) -> Curve:
    """Run up to `max_epochs` epochs; leaves `model` with the weights of its best epoch. An
    epoch is better when its score beats the best so far by more than `min_gain`."""
    curve = Curve(metric)
    best_weights: list[npt.NDArray[Any]] | None = None  # Keras' weights, of each layer's dtype
    with keras_graphs_without_autograph():
        for epoch in range(1, max_epochs + 1):
            one_epoch()
            curve.scores.append(score())
            best = curve.scores[curve.best_epoch - 1] if curve.best_epoch else 0.0
            if curve.best_epoch == 0 or curve.scores[-1] > best + min_gain:
                curve.best_epoch = epoch
                best_weights = model.get_weights()
            elif epoch - curve.best_epoch >= patience:
                break
    if best_weights is not None and curve.best_epoch != len(curve.scores):
        model.set_weights(best_weights)
    return curve


def build_before_training(model: tf.keras.Model, data: Any, batch_size: int) -> None:
    """Create the model's and its optimizer's variables before the first `fit`, from one batch
    of `data` (a Merlin Dataset).

    Keras' train step is a `tf.function`; when its first trace creates variables (Merlin's
    layers build lazily, the optimizer makes its slots on the first step), TensorFlow traces
    it a second time. Built beforehand, it is traced once: 1-2 s less per model at 100k rows,
    the same weights and epoch curves."""
    from merlin.models.tf.loader import Loader

    features, _ = next(iter(Loader(data, batch_size=batch_size, shuffle=False)))
    model(features)
    model.optimizer.build(model.trainable_variables)


@contextlib.contextmanager
def keras_graphs_without_autograph() -> Iterator[None]:
    """Keras' train and predict graphs made inside are traced without AutoGraph.

    AutoGraph rewrites the source of every Merlin Models layer into graph code before tracing
    (Python's `ast` walking the layers, once per model), while the layers' control flow is plain
    Python over their configuration, which tracing runs as it is. The graphs are the same:
    identical epoch curves and evaluation tables on both generators; a layer that branched on a
    tensor would fail to trace here rather than differ. At 100k rows it saves 2.4-3.9 s of the
    Two-Tower's training and about 80 MB of peak memory; the DLRM's time moves within the noise
    (docs/benchmarks.md). Only Keras' own `tf.function` calls change (its modules reach
    TensorFlow as `tensorflow.compat.v2`)."""
    from keras.engine import training as keras_training  # type: ignore[import-untyped]

    module = keras_training.tf
    traced = module.function

    def without_autograph(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("autograph", False)
        return traced(*args, **kwargs)

    module.function = without_autograph
    try:
        yield
    finally:
        module.function = traced


def hold_out(frame: pd.DataFrame, share: float, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded random split: (rows to fit on, rows to choose the epoch with).

    With too few rows to split, both are the whole frame."""
    held = np.random.default_rng(seed).random(len(frame)) < share
    if held.all() or not held.any():
        return frame, frame
    return frame[~held].reset_index(drop=True), frame[held].reset_index(drop=True)
