"""Training to convergence: the best epoch kept, stopping after `patience` epochs without one."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from training.build.convergence import fit_until_no_better


class Weights:
    """A stand-in for a Keras model's weights: the epoch that set them."""

    def __init__(self) -> None:
        self.epoch = 0

    def get_weights(self) -> list[np.ndarray]:
        return [np.array(self.epoch)]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        self.epoch = int(weights[0])


def run(scores: list[float], patience: int, min_gain: float) -> tuple[Weights, list[float], int]:
    model = Weights()
    feed: Iterator[float] = iter(scores)

    def one_epoch() -> None:
        model.epoch += 1

    curve = fit_until_no_better(
        model, one_epoch, lambda: next(feed), "m", len(scores), patience, min_gain
    )  # type: ignore[arg-type]
    return model, curve.scores, curve.best_epoch


def test_the_best_epoch_is_kept_and_training_stops_after_patience() -> None:
    model, seen, best = run([0.5, 0.7, 0.6, 0.65, 0.9], patience=2, min_gain=0.0)
    assert seen == [0.5, 0.7, 0.6, 0.65] and best == 2 and model.epoch == 2


def test_gains_below_min_gain_do_not_count_as_better() -> None:
    scores = [0.8963, 0.8992, 0.8991, 0.8998, 0.9000, 0.9000, 0.8995]  # planted 100k's DLRM
    _, seen, best = run(scores, patience=2, min_gain=0.0)
    assert best == 5 and len(seen) == 7
    model, seen, best = run(scores, patience=2, min_gain=0.0005)
    assert best == 4 and len(seen) == 6 and model.epoch == 4  # one epoch fewer


def test_keras_trains_the_same_without_autograph_and_the_switch_is_restored() -> None:
    import tensorflow as tf
    from keras.engine import training as keras_training  # type: ignore[import-untyped]

    from training.build.convergence import keras_graphs_without_autograph

    def trained(without_autograph: bool) -> list[np.ndarray]:
        tf.keras.utils.set_random_seed(0)
        model = tf.keras.Sequential(
            [tf.keras.layers.Dense(4, activation="relu"), tf.keras.layers.Dense(1)]
        )
        model.compile(optimizer="adam", loss="mse")
        x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
        y = x.sum(axis=1, keepdims=True)
        if without_autograph:
            with keras_graphs_without_autograph():
                model.fit(x, y, batch_size=16, epochs=2, verbose=0)
        else:
            model.fit(x, y, batch_size=16, epochs=2, verbose=0)
        return list(model.get_weights())

    before = keras_training.tf.function
    with keras_graphs_without_autograph():
        assert keras_training.tf.function(lambda v: v)._autograph is False
    plain, without = trained(False), trained(True)
    assert keras_training.tf.function is before
    assert all(np.array_equal(a, b) for a, b in zip(plain, without, strict=True))
