"""The build's --seed fixes TensorFlow's and numpy's generators (one seed, one build)."""

from __future__ import annotations

import numpy as np

from training.build.pipeline import seed_training


def draws(seed: int) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow as tf

    seed_training(seed)
    layer = tf.keras.layers.Dense(4)
    weights = layer(tf.ones((1, 3))).numpy()
    return weights, np.random.random(3)


def test_one_seed_gives_the_same_initial_weights_and_shuffles() -> None:
    first, again, other = draws(7), draws(7), draws(8)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0]) and not np.array_equal(first[1], other[1])
