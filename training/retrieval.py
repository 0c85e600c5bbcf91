"""Two-Tower retrieval model (Merlin Models): train on clicks, evaluate on the whole catalogue."""

from __future__ import annotations

from dataclasses import dataclass

import merlin.models.tf as mm
import numpy as np
import pandas as pd
import tensorflow as tf
from merlin.io import Dataset
from merlin.schema import Schema, Tags

from training import metrics
from training.batches import run_in_batches
from training.errors import BuildError
from training.schema import TARGET

MIN_CLICKS = 8


@dataclass(frozen=True)
class RetrievalConfig:
    epochs: int = 5
    batch_size: int = 1024
    learning_rate: float = 0.005
    tower_dims: tuple[int, ...] = (128, 64)


def tower_schema(schema: Schema) -> Schema:
    """User and item columns only: the towers' inputs."""
    return schema.select_by_tag([Tags.USER_ID, Tags.ITEM_ID, Tags.USER, Tags.ITEM])


def train(schema: Schema, train: pd.DataFrame, config: RetrievalConfig) -> mm.TwoTowerModel:
    """Fit on the positive (clicked) rows only, with in-batch negatives."""
    inputs = tower_schema(schema)
    clicks = train.loc[train[TARGET] == 1, inputs.column_names]
    if len(clicks) < MIN_CLICKS:
        raise BuildError(f"train has {len(clicks)} clicks: the retrieval model needs {MIN_CLICKS}")
    model = mm.TwoTowerModel(
        inputs,
        query_tower=mm.MLPBlock(list(config.tower_dims), no_activation_last_layer=True),
        samplers=[mm.InBatchSampler()],
        embedding_options=mm.EmbeddingOptions(infer_embedding_sizes=True),
    )
    model.compile(
        optimizer=tf.keras.optimizers.Adam(config.learning_rate),
        loss="categorical_crossentropy",
        run_eagerly=False,
    )
    model.fit(
        Dataset(clicks, schema=inputs),
        # With drop_last, a batch larger than the data would mean no step at all (fit never ends).
        batch_size=min(config.batch_size, len(clicks)),
        epochs=config.epochs,
        shuffle=True,
        drop_last=True,
        verbose=0,
    )
    return model


def embed(tower: tf.keras.Model, frame: pd.DataFrame, batch_size: int = 4096) -> np.ndarray:
    """Run one tower on the columns it needs, in batches; float32 (rows, dim)."""
    return run_in_batches(tower, frame, tower.schema.column_names, batch_size)


def evaluate(
    query_tower: tf.keras.Model,
    item_vectors: np.ndarray,
    item_index: pd.Series,
    valid: pd.DataFrame,
) -> dict[str, float]:
    """Recall@10/100 and NDCG@10 of each valid click's item among the whole catalogue.

    `item_index` maps a raw item id to its row in `item_vectors`.
    """
    clicks = valid[valid[TARGET] == 1]
    targets = item_index.reindex(clicks["item_id_raw"]).to_numpy()
    known = ~np.isnan(targets)
    clicks, targets = clicks[known], targets[known].astype(np.int64)
    queries = embed(query_tower, clicks)
    ranks = np.concatenate(
        [
            metrics.ranks_of_targets(queries[s : s + 1024] @ item_vectors.T, targets[s : s + 1024])
            for s in range(0, len(targets), 1024)
        ]
    )
    catalogue = len(item_vectors)
    return {
        "recall_at_10": metrics.recall_at(ranks, 10),
        "recall_at_100": metrics.recall_at(ranks, 100),
        "ndcg_at_10": metrics.ndcg_at(ranks, 10),
        "random_recall_at_100": min(1.0, 100 / catalogue),
        "valid_clicks": int(len(targets)),
    }
