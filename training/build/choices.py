"""What the build chooses on its held-out train rows (training/build/choice_split.py): the filter
and the item-item model's input, the merge of the candidates, then the final score's weights."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from services.ensemble.candidates import IdArray
from services.ensemble.final_score import OrderSettings
from training.build import choice_split, itemitem, merge_choice, order_choice, ranking
from training.build.progress import format_metrics, log


@dataclass(frozen=True)
class Choices:
    """What the build chose on its held-out train rows (training/build/choice_split.py)."""

    filter: order_choice.FilterChoice
    merge: merge_choice.MergeChoice
    weights: order_choice.WeightChoice

    @property
    def ordering(self) -> OrderSettings:
        """How serving filters and orders. Where nothing reads the item-item model (no weight,
        no list), it reads clicks: serving then fetches shown items only to remove them."""
        ordering = order_choice.ordering(self.filter, self.weights.weights)
        uses_itemitem = ordering.weights.itemitem > 0 or "itemitem" in self.merge.settings.order
        if not uses_itemitem:
            ordering = dataclasses.replace(ordering, itemitem_input="clicks")
        return ordering

    def as_dict(self) -> dict[str, Any]:
        return {"filter": self.filter.as_dict(), "weights": self.weights.as_dict()}


@dataclass(frozen=True)
class ModelFreeChoices:
    """The choices that read no model (the filter with its item-item fit, the segment lists'
    recalls), made while the models train: the build runs them in a thread beside the
    training, whose TensorFlow steps leave the other core idle."""

    filter: order_choice.FilterChoice
    itemitem_fit: tuple[pd.DataFrame, tuple[IdArray, npt.NDArray[np.float32]]]
    """The chosen input's item-item model fit on `split.fit`: served table, dense weights."""
    segment_recall: dict[str, float]
    seconds: float


def choose_model_free(
    itemitem_config: itemitem.ItemItemConfig, train: pd.DataFrame, split: choice_split.ChoiceSplit
) -> ModelFreeChoices:
    """The filter and item-item input, and each segment recipe's recall (seeded, so the same
    wherever it runs)."""
    start = time.perf_counter()
    chosen_filter, itemitem_fit, dense_fit = order_choice.choose_filter(split, itemitem_config)
    segment_recall = merge_choice.segment_recalls(train)
    seconds = time.perf_counter() - start
    return ModelFreeChoices(chosen_filter, (itemitem_fit, dense_fit), segment_recall, seconds)


def choose(
    model_free: ModelFreeChoices,
    split: choice_split.ChoiceSplit,
    query_tower: Any,
    items: pd.DataFrame,
    item_vectors: npt.NDArray[np.float32],
    dlrm: ranking.TrainedRanking,
) -> Choices:
    """With the model-free choices made: the merge, then the final score's weights."""
    chosen_filter = model_free.filter
    log(f"model-free choices {model_free.seconds:.2f} s, beside the models' training")
    log(format_metrics("filter choice (held-out NDCG@10 of EASE alone)", chosen_filter.ndcg))
    ordering = order_choice.ordering(chosen_filter)
    merge = merge_choice.choose(
        model_free.segment_recall,
        split,
        query_tower,
        items,
        item_vectors,
        model_free.itemitem_fit,
        ordering,
    )
    log(format_metrics("segment choice (held-out recall@100)", merge.segment_recall))
    log(format_metrics("merge choice (held-out merged recall@100)", merge.recall))
    log(f"chosen: {merge.settings}, segment lists {merge.segments.name}")
    weights = order_choice.choose_weights(
        merge.inputs, split.held, split.fit, items, dlrm.model, chosen_filter.impression_log
    )
    log(format_metrics("each part alone (held-out NDCG@10)", weights.alone))
    log(
        f"chosen: filter {chosen_filter.exclude}, item-item reads {chosen_filter.itemitem_input}, "
        f"{'an impression' if chosen_filter.impression_log else 'a consumption'} log, "
        f"weights {weights.weights.as_dict()} (held-out NDCG@10 {weights.ndcg:.4f})"
    )
    return Choices(chosen_filter, merge, weights)
