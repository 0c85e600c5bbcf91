"""DLRM ranking model (Merlin Models) on all impressions; exact AUC and logloss on valid."""

from __future__ import annotations

from dataclasses import dataclass

import merlin.models.tf as mm
import numpy as np
import pandas as pd
import tensorflow as tf
from merlin.io import Dataset
from merlin.schema import Schema

from training import metrics
from training.batches import run_in_batches
from training.schema import TARGET


@dataclass(frozen=True)
class RankingConfig:
    max_epochs: int = 5
    early_stopping_share: float = 0.1
    """Share of train held out to stop at the epoch with the best loss (DLRM over-fits ids)."""
    batch_size: int = 1024
    learning_rate: float = 0.003
    embedding_dim: int = 32
    bottom_dims: tuple[int, ...] = (64, 32)
    top_dims: tuple[int, ...] = (64, 32)


def train(schema: Schema, train: pd.DataFrame, config: RankingConfig) -> mm.Model:
    model = mm.DLRMModel(
        schema,
        embedding_dim=config.embedding_dim,
        bottom_block=mm.MLPBlock(list(config.bottom_dims)),
        top_block=mm.MLPBlock(list(config.top_dims)),
        prediction_tasks=mm.BinaryOutput(TARGET),
    )
    model.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate), run_eagerly=False)
    fit_rows, stop_rows = _hold_out(train[schema.column_names], config.early_stopping_share)
    model.fit(
        Dataset(fit_rows, schema=schema),
        validation_data=Dataset(stop_rows, schema=schema),
        batch_size=min(config.batch_size, len(fit_rows)),
        epochs=config.max_epochs,
        shuffle=True,
        verbose=0,
        callbacks=[
            tf.keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=1, restore_best_weights=True
            )
        ],
    )
    return model


def _hold_out(frame: pd.DataFrame, share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded random split: (rows to fit on, rows to choose the epoch with)."""
    held = np.random.default_rng(0).random(len(frame)) < share
    if held.all() or not held.any():
        return frame, frame
    return frame[~held].reset_index(drop=True), frame[held].reset_index(drop=True)


def predict(model: tf.keras.Model, frame: pd.DataFrame, batch_size: int = 8192) -> np.ndarray:
    """Click probabilities for each row, float32 (rows,)."""
    names = [c for c in model.schema.column_names if c != TARGET]
    return run_in_batches(model, frame, names, batch_size).reshape(-1)


def evaluate(model: tf.keras.Model, valid: pd.DataFrame, train: pd.DataFrame) -> dict[str, float]:
    """Exact AUC and logloss on valid, beside an item-CTR baseline learned from train."""
    labels = valid[TARGET].to_numpy()
    scores = predict(model, valid)
    item_ctr = train.groupby("item_id_raw")[TARGET].mean()
    baseline = valid["item_id_raw"].map(item_ctr).fillna(train[TARGET].mean()).to_numpy()
    return {
        "auc": metrics.auc(labels, scores),
        "logloss": metrics.logloss(labels, scores),
        "item_ctr_baseline_auc": metrics.auc(labels, baseline),
        "valid_rows": int(len(labels)),
    }
