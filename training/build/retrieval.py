"""Two-Tower retrieval model (Merlin Models): trained on clicks with in-batch negatives and the
logQ (sampling-bias) correction, stopped by full-catalogue recall@100 on held-out clicks."""

from __future__ import annotations

from dataclasses import dataclass

import merlin.models.tf as mm
import numpy as np
import numpy.typing as npt
import pandas as pd
import tensorflow as tf
from merlin.io import Dataset
from merlin.models.tf.transforms.bias import PopularityLogitsCorrection
from merlin.models.utils.schema_utils import categorical_cardinalities
from merlin.schema import Schema, Tags

from training.build.batches import run_in_batches
from training.build.convergence import (
    Curve,
    build_before_training,
    fit_until_no_better,
    hold_out,
)
from training.data.schema import TARGET
from training.errors import BuildError
from training.evaluation import metrics

MIN_CLICKS = 8
ITEM_ID = "item_id"


@dataclass(frozen=True)
class RetrievalConfig:
    max_epochs: int = 8
    patience: int = 2
    """Two epochs without a better held-out recall: early epochs can dip (planted, 20k rows: a
    dip at epoch 2 stopped a run at recall 0.22 whose next epochs reached 0.48)."""
    early_stopping_share: float = 0.05
    """Share of the fit rows' clicks held out to choose the epoch by recall@100 (the build's
    other choices read the rows held out of every model: training/build/choice_split.py)."""
    batch_size: int = 1024
    learning_rate: float = 0.02
    """Chosen by held-out recall@100 on both generators (0.005 needed 6-8 epochs, 0.02 3-4)."""
    tower_dims: tuple[int, ...] = (128, 64)
    logq_correction: bool = True
    """Subtract log(item frequency) from the in-batch logits (popular items are sampled more
    often as negatives); Merlin's PopularityLogitsCorrection."""
    logq_strength: float = 1.5
    """The correction subtracts `logq_strength` * log(item frequency). At 1.0 the in-batch softmax
    estimates the full softmax over items; above 1.0 the learned scores keep
    (strength - 1) * log(frequency) of popularity, which a click-recall measure rewards (what
    users click depends on what they were shown). Chosen on a 70/30 split of train of both
    generators (50k rows, recall@100 of unseen items): 1.5 beat 1.0 on both (longtail
    0.594-0.607 vs 0.570-0.579, planted 0.345-0.367 vs 0.336-0.338); 2.0 was between."""


@dataclass
class TrainedRetrieval:
    model: mm.RetrievalModel
    curve: Curve
    clicks: ClickSplit
    """How the clicks it was given were split."""

    def query_tower(self) -> tf.keras.Model:
        return self.model.retrieval_block.query_block()

    def item_tower(self) -> tf.keras.Model:
        return self.model.retrieval_block.item_block()


def tower_schema(schema: Schema) -> Schema:
    """User and item columns only: the towers' inputs."""
    return schema.select_by_tag([Tags.USER_ID, Tags.ITEM_ID, Tags.USER, Tags.ITEM])


def train(schema: Schema, train: pd.DataFrame, config: RetrievalConfig) -> TrainedRetrieval:
    """Fit on the positive (clicked) rows only, with in-batch negatives."""
    inputs = tower_schema(schema)
    clicks = split_clicks(train, config)
    fit_rows, held_rows = clicks.fit[inputs.column_names], clicks.epochs[inputs.column_names]
    items = train.drop_duplicates(ITEM_ID).reset_index(drop=True)
    model = mm.TwoTowerModel(
        inputs,
        query_tower=mm.MLPBlock(list(config.tower_dims), no_activation_last_layer=True),
        embedding_options=mm.EmbeddingOptions(infer_embedding_sizes=True),
        prediction_tasks=mm.ItemRetrievalTask(
            inputs,
            samplers=[mm.InBatchSampler()],
            post_logits=_logq(inputs, fit_rows, config) if config.logq_correction else None,
        ),
    )
    # metrics=[]: without it Merlin compiles the task's default top-k metrics over each step's
    # in-batch scores, which nothing reads (the epoch is chosen by held_out_recall): about 2 s
    # of this model's 13-15 s at 100k rows, the same weights.
    model.compile(
        optimizer=tf.keras.optimizers.Adam(config.learning_rate),
        loss="categorical_crossentropy",
        metrics=[],
        run_eagerly=False,
    )
    fit_data = Dataset(fit_rows, schema=inputs)
    # With drop_last, a batch larger than the data would mean no step at all (fit never ends).
    batch_size = min(config.batch_size, len(fit_rows))
    build_before_training(model, fit_data, batch_size)
    trained = TrainedRetrieval(model, Curve("held_out_recall_at_100"), clicks)

    def one_epoch() -> None:
        model.fit(
            fit_data, batch_size=batch_size, epochs=1, shuffle=True, drop_last=True, verbose=0
        )

    def held_out_recall() -> float:
        return catalogue_recall(trained.query_tower(), trained.item_tower(), items, held_rows)

    trained.curve = fit_until_no_better(
        model, one_epoch, held_out_recall, trained.curve.metric, config.max_epochs, config.patience
    )
    return trained


@dataclass(frozen=True)
class ClickSplit:
    """The click rows (every column) in two seeded parts."""

    fit: pd.DataFrame
    """What the Two-Tower learns from."""
    epochs: pd.DataFrame
    """Held out: chooses the Two-Tower's epoch."""


def split_clicks(train: pd.DataFrame, config: RetrievalConfig) -> ClickSplit:
    """`config.early_stopping_share` of the clicks of `train` held out (with too few clicks to
    split, the parts overlap)."""
    clicks = train.loc[train[TARGET] == 1]
    if len(clicks) < MIN_CLICKS:
        raise BuildError(f"train has {len(clicks)} clicks: the retrieval model needs {MIN_CLICKS}")
    return ClickSplit(*hold_out(clicks, config.early_stopping_share))


def _logq(
    inputs: Schema, clicks: pd.DataFrame, config: RetrievalConfig
) -> PopularityLogitsCorrection:
    """Item click frequencies (add-one smoothed) over the encoded item id's whole domain; the
    logits lose `config.logq_strength` times their log (Merlin's `reg_factor`)."""
    cardinality = categorical_cardinalities(inputs)[ITEM_ID]
    counts = np.bincount(clicks[ITEM_ID].to_numpy(), minlength=cardinality)[:cardinality] + 1.0
    return PopularityLogitsCorrection(
        counts.astype(np.float32), reg_factor=config.logq_strength, schema=inputs
    )


def embed(
    tower: tf.keras.Model, frame: pd.DataFrame, batch_size: int = 4096
) -> npt.NDArray[np.float32]:
    """Run one tower on the columns it needs, in batches; float32 (rows, dim)."""
    return run_in_batches(tower, frame, tower.schema.column_names, batch_size)


def catalogue_recall(
    query_tower: tf.keras.Model,
    item_tower: tf.keras.Model,
    items: pd.DataFrame,
    clicks: pd.DataFrame,
    k: int = 100,
) -> float:
    """Share of `clicks` whose item is among the user's top k of all `items` (encoded rows)."""
    rows = pd.Series(np.arange(len(items)), index=items[ITEM_ID].to_numpy())
    targets = rows.reindex(clicks[ITEM_ID].to_numpy()).to_numpy()
    known = ~np.isnan(targets)
    item_vectors = embed(item_tower, items)
    queries = embed(query_tower, clicks[known])
    ranks = np.concatenate(
        [
            metrics.ranks_of_targets(
                queries[s : s + 1024] @ item_vectors.T,
                targets[known][s : s + 1024].astype(np.int64),
            )
            for s in range(0, int(known.sum()), 1024)
        ]
        or [np.zeros(0, np.int64)]
    )
    return metrics.recall_at(ranks, k) * float(known.mean())
