"""DLRM ranking model (Merlin Models) on all impressions, stopped by exact AUC on held-out rows."""

from __future__ import annotations

from dataclasses import dataclass

import merlin.models.tf as mm
import numpy as np
import numpy.typing as npt
import pandas as pd
import tensorflow as tf
from merlin.io import Dataset
from merlin.schema import Schema, Tags

from training.build.batches import input_columns, run_in_batches
from training.build.convergence import (
    Curve,
    build_before_training,
    fit_until_no_better,
    hold_out,
)
from training.data.schema import TARGET
from training.evaluation import metrics


@dataclass(frozen=True)
class RankingConfig:
    max_epochs: int = 12
    patience: int = 2
    """With L2 on the embeddings the held-out AUC climbs for 2-7 epochs, with dips of 0.005."""
    min_gain: float = 0.0005
    """An epoch must raise the held-out AUC by more than this to count as better (and to be
    kept): gains below it are within the noise of ~10k held-out rows and cost an epoch each."""
    early_stopping_share: float = 0.1
    """Share of train held out to choose the epoch by exact AUC (DLRM over-fits the ids)."""
    batch_size: int = 256
    """The first epoch's, up to ~250k rows to fit (`first_epoch_steps`). Chosen by held-out
    AUC on both generators (50k rows): 256 beat 1024 on both (longtail 0.704-0.711 vs 0.700,
    planted 0.883-0.889 vs 0.860-0.867); 128 was no better than 256."""
    learning_rate: float = 0.01
    """Chosen by held-out AUC on both generators: 0.001 to 0.01 and embedding dims 16 and 64 were
    compared; 0.01 was best or tied on both. Without L2 it peaks after 1-2 epochs."""
    embedding_dim: int = 32
    embeddings_l2: float = 3e-4
    """L2 on every embedding table (a Keras regularizer). Chosen on 70/30 splits of train of both
    generators, seven draws (20k-100k rows, seeds 3/5/11/42): 3e-4 beat none on six of seven
    (mean +0.007 AUC; longtail 100k +0.015), 1e-4 on five; 1e-3 and L2 on each batch's rows
    only (Merlin's `l2_batch_regularization_factor`, 1e-5 to 1e-3) did worse than none."""
    ema_momentum: float = 0.99
    """The model keeps an exponential moving average of its weights over the training steps
    (Keras' `use_ema`), swapped in after each epoch: it is what is scored, kept and served.
    Chosen on 70/30 splits of train of both generators, eight draws (20k-100k rows): 0.99 beat
    plain weights on all eight (longtail +0.005 to +0.018 AUC, planted +0.004 to +0.012); 0.995
    was within 0.003 of it and ran more epochs; 0.98 gained less on three of four. 0: plain
    weights."""
    bottom_dims: tuple[int, ...] = (64, 32)
    top_dims: tuple[int, ...] = (64, 32)
    batch_growth: int = 2
    max_batch_size: int = 1024
    grow_below: float = 0.004
    """The batch doubles (up to `max_batch_size`) after each epoch whose held-out AUC rose by
    less than this: it grows where learning slows, as a decaying learning rate would (Smith et
    al. 2018, "Don't decay the learning rate, increase the batch size"). A step costs about the
    same at 256 and 1024 rows here (TensorFlow's per-op overhead on ~1,000 small ops), so an
    epoch at 1024 takes a third of the time. Chosen on four data sets at 100k rows (planted,
    longtail, ratings, MovieLens 100k) against a fixed 256, held-out AUC and DLRM time: 0.9009
    vs 0.8992, 9.9 vs 12.2 s; 0.7077 vs 0.7090, 11.9 vs 23.7 s; 0.7298 vs 0.7298, 7.1 vs 8.5 s;
    0.7572 vs 0.7555, 11.9 vs 13.8 s. Growing every epoch regardless was faster still and lost
    0.007 on MovieLens; 0.002 was within 0.002 of 0.004 and slower; scaling the learning rate
    with the batch (square root or linear) lost on all four."""
    first_epoch_steps: int = 500
    """The first batch is the largest of `batch_size` times a power of `batch_growth` (up to
    `max_batch_size`) that still gives the first epoch at least this many steps: at 100k and
    300k rows that is `batch_size` itself, at 1M rows (~630k rows to fit) 1024. A step costs
    the same at any of these batches, and more as the tables grow (about 25 ms at 1M rows
    against 10 ms at 100k: Keras' Adam and the weight average update every row of a table
    each step), so a first epoch of 2,460 steps at 256 took 60 s at 1M where 615 at 1024
    took 17 s. On 1M-row builds of both generators the held-out AUC stayed within 0.0005 of
    the fixed start's (docs/decisions.md)."""


class GrowingBatch:
    """The DLRM's batch size over its epochs: `first_batch_size` at first, `batch_growth`
    times larger (up to `max_batch_size`) after each epoch whose held-out score rose by less
    than `grow_below` over the best before it."""

    def __init__(self, config: RankingConfig, rows: int) -> None:
        self.config = config
        self.size = first_batch_size(config, rows)
        self.best: float | None = None

    def after_epoch(self, score: float) -> None:
        if self.best is not None and score - self.best < self.config.grow_below:
            self.size = min(self.size * self.config.batch_growth, self.config.max_batch_size)
        self.best = score if self.best is None else max(self.best, score)


def first_batch_size(config: RankingConfig, rows: int) -> int:
    """The first epoch's batch for `rows` rows to fit (see `first_epoch_steps`)."""
    size = config.batch_size
    while (
        config.batch_growth > 1
        and size * config.batch_growth <= config.max_batch_size
        and rows // (size * config.batch_growth) >= config.first_epoch_steps
    ):
        size *= config.batch_growth
    return size


@dataclass
class TrainedRanking:
    model: mm.Model
    curve: Curve


def train(
    schema: Schema,
    train: pd.DataFrame,
    config: RankingConfig,
    stop_rows: pd.DataFrame | None = None,
) -> TrainedRanking:
    """Fit on `train`, the epoch chosen by AUC on `stop_rows` (None: on
    `config.early_stopping_share` of `train` held out)."""
    model = mm.DLRMModel(
        schema,
        embeddings=_embeddings(schema, config),
        bottom_block=mm.MLPBlock(list(config.bottom_dims)),
        top_block=mm.MLPBlock(list(config.top_dims)),
        prediction_tasks=mm.BinaryOutput(TARGET),
    )
    # metrics=[]: no default training metrics nothing reads (as the Two-Tower's: retrieval.py)
    model.compile(optimizer=optimizer(config), metrics=[], run_eagerly=False)
    if stop_rows is None:
        fit_rows, stop_rows = hold_out(train[schema.column_names], config.early_stopping_share)
    else:
        fit_rows, stop_rows = train[schema.column_names], stop_rows[schema.column_names]
    fit_data = Dataset(fit_rows, schema=schema)
    build_before_training(model, fit_data, min(config.batch_size, len(fit_rows)))
    batch = GrowingBatch(config, len(fit_rows))

    def one_epoch() -> None:
        batch_size = min(batch.size, len(fit_rows))
        model.fit(fit_data, batch_size=batch_size, epochs=1, shuffle=True, verbose=0)

    def held_out_auc() -> float:
        score = metrics.auc(stop_rows[TARGET].to_numpy(), predict(model, stop_rows))
        batch.after_epoch(score)
        return score

    curve = fit_until_no_better(
        model,
        one_epoch,
        held_out_auc,
        "held_out_auc",
        config.max_epochs,
        config.patience,
        config.min_gain,
    )
    return TrainedRanking(model, curve)


def optimizer(config: RankingConfig) -> tf.keras.optimizers.Optimizer:
    """Adam, averaging the weights over its steps when `config.ema_momentum` is set."""
    if not config.ema_momentum:
        return tf.keras.optimizers.Adam(config.learning_rate)
    return tf.keras.optimizers.Adam(
        config.learning_rate, use_ema=True, ema_momentum=config.ema_momentum
    )


def _embeddings(schema: Schema, config: RankingConfig) -> mm.Block:
    # Built here, not by DLRMModel's `embedding_options`: that path drops `embeddings_l2_reg`
    # (merlin-models 23.08 `_get_embeddings`), so an L2 set there trains without any.
    l2 = config.embeddings_l2
    return mm.Embeddings(
        schema.select_by_tag(Tags.CATEGORICAL),
        dim=config.embedding_dim,
        embeddings_regularizer=tf.keras.regularizers.l2(l2) if l2 else None,
    )


def predict(
    model: tf.keras.Model, frame: pd.DataFrame, batch_size: int = 8192
) -> npt.NDArray[np.float32]:
    """Click probabilities for each row, float32 (rows,)."""
    return run_in_batches(model, frame, input_columns(model), batch_size).reshape(-1)
