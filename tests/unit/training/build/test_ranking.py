"""The DLRM's settings reach the model: its L2 on the embeddings is really applied (Merlin's own
`embedding_options` path drops it, and a dropped L2 trains exactly as none)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from merlin.schema import ColumnSchema, Schema, Tags

from training.build import ranking

USERS, ITEMS = 20, 15


def tiny_schema() -> Schema:
    def categorical(name: str, size: int, tag: Tags) -> ColumnSchema:
        properties = {"domain": {"min": 0, "max": size - 1}}
        return ColumnSchema(
            name, dtype=np.int32, tags=[Tags.CATEGORICAL, tag], properties=properties
        )

    target = ColumnSchema("click", dtype=np.int64, tags=[Tags.BINARY_CLASSIFICATION, Tags.TARGET])
    user, item = (
        categorical("user_id", USERS, Tags.USER_ID),
        categorical("item_id", ITEMS, Tags.ITEM_ID),
    )
    return Schema([user, item, target])


def tiny_rows(count: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    users = rng.integers(0, USERS, count).astype(np.int32)
    items = rng.integers(0, ITEMS, count).astype(np.int32)
    clicks = ((users + items) % 3 == 0).astype(np.int64)
    return pd.DataFrame({"user_id": users, "item_id": items, "click": clicks})


def regularization(l2: float) -> float:
    config = replace(ranking.RankingConfig(), embeddings_l2=l2, max_epochs=1, batch_size=64)
    model = ranking.train(tiny_schema(), tiny_rows(), config).model
    return float(sum(float(loss) for loss in model.losses))


def test_the_embeddings_l2_adds_a_loss_that_grows_with_it() -> None:
    small, large = regularization(1e-4), regularization(1e-2)
    assert 0.0 < small < large


def test_no_l2_adds_no_loss() -> None:
    assert regularization(0.0) == 0.0


def trained_weights(**settings: float) -> list[np.ndarray]:
    """The DLRM's weights after one epoch from one seeded start (same seed: same start)."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    base = dict(embeddings_l2=0.0, max_epochs=1, batch_size=64, ema_momentum=0.0)
    config = replace(ranking.RankingConfig(), **{**base, **settings})
    return ranking.train(tiny_schema(), tiny_rows(), config).model.get_weights()


def distance(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    pairs = zip(a, b, strict=True)
    return float(np.sqrt(sum(np.sum((x.astype(float) - y.astype(float)) ** 2) for x, y in pairs)))


def test_the_kept_weights_are_the_average_over_the_steps() -> None:
    start = trained_weights(learning_rate=0.0)
    plain = trained_weights()
    averaged = trained_weights(ema_momentum=0.999)
    # 6 steps averaged with momentum 0.999 stay near where they began; plain steps move away.
    assert distance(plain, start) > 0.0
    assert distance(averaged, start) < 0.1 * distance(plain, start)


def batch_config(**settings: float) -> ranking.RankingConfig:
    """Batches of 256 doubling up to 1024, with `settings` on top."""
    base = dict(batch_size=256, batch_growth=2, max_batch_size=1024)
    return replace(ranking.RankingConfig(), **{**base, **settings})


def test_the_batch_doubles_after_an_epoch_that_gained_little_up_to_its_cap() -> None:
    batch = ranking.GrowingBatch(batch_config(grow_below=0.004), rows=60_000)
    sizes = []
    for score in (0.70, 0.71, 0.712, 0.713, 0.705, 0.72):
        batch.after_epoch(score)
        sizes.append(batch.size)
    # +0.01 keeps 256; +0.002 doubles; +0.001 doubles; a fall doubles (capped); +0.007 keeps
    assert sizes == [256, 256, 512, 1024, 1024, 1024]


def test_the_first_batch_grows_with_the_rows_to_fit_up_to_its_cap() -> None:
    config = batch_config(first_epoch_steps=500)
    sizes = [ranking.first_batch_size(config, rows) for rows in (0, 255_999, 256_000, 630_000)]
    # 256_000 rows: 500 steps of 512; 630_000: 615 of 1024; 10M rows stay at the cap
    assert sizes == [256, 256, 512, 1024]
    assert ranking.first_batch_size(config, 10_000_000) == 1024
    assert ranking.first_batch_size(replace(config, batch_growth=1), 10_000_000) == 256
    assert ranking.GrowingBatch(config, rows=630_000).size == 1024


def test_the_train_step_is_traced_once_over_epochs_and_batch_sizes() -> None:
    """Built before fit, Keras' train step is not traced again when its first trace would have
    made the variables, nor when the batch grows (its batch dimension is unknown)."""
    config = replace(
        ranking.RankingConfig(),
        max_epochs=3,
        patience=3,
        min_gain=-1.0,
        batch_size=32,
        batch_growth=2,
        max_batch_size=128,
        grow_below=1.0,
    )
    model = ranking.train(tiny_schema(), tiny_rows(), config).model
    assert model.train_function.experimental_get_tracing_count() == 1
