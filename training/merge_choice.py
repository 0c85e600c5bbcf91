"""The build chooses how the second source is made and merged with the tower's list, on train
clicks that neither trained the Two-Tower nor chose its epoch (`retrieval.ClickSplit.merge`),
never on the valid split.

The choices: the second source's lists in order (`ORDERS`: the items co-clicked with the
user's past items, the most clicked of the user's segment, the most clicked overall) and the
tower's share of the merged places. For each, the merged recall@100 of the held-out clicks (the
evaluation table's measure: each click on an item the user had not clicked before, among K
candidates without the user's past items) is measured with everything the second source reads
made from the other train rows alone; the best wins (ties: the larger share, then the earlier
order).

Shares stop at 0.9: at 1.0 the tower's list fills every place and the second source, the guard
against a weak tower, never serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from training import coclick, evaluate, popular, segments

SHARES = (0.5, 0.7, 0.9)
ORDERS = {
    "coclick_first": ("coclick", "segment_popular", "popular_items"),
    "segment_first": ("segment_popular", "coclick", "popular_items"),
    "segment_then_popular": ("segment_popular", "popular_items"),
}


@dataclass(frozen=True)
class MergeChoice:
    settings: evaluate.MergeSettings
    recall: dict[str, float]
    """Held-out merged recall@100 per `<order>@<share>`."""
    held_out_clicks: int

    def as_dict(self) -> dict[str, Any]:
        return {"held_out_clicks": self.held_out_clicks, "merged_recall_at_100": self.recall}


def choose(
    train: pd.DataFrame,
    held_clicks: pd.DataFrame,
    query_tower: Any,
    items: pd.DataFrame,
    item_vectors: np.ndarray,
) -> MergeChoice:
    """`train`: the encoded train rows; `held_clicks`: encoded click rows the tower never
    learnt from (`retrieval.ClickSplit.merge`); the query tower, and the encoded catalogue
    `items` with their vectors."""
    fit = _without_pairs(train, held_clicks)
    inputs = evaluate.retrieval_inputs(
        {"train": fit, "valid": held_clicks},
        query_tower,
        items,
        item_vectors,
        popular.most_clicked_ids(fit),
        coclick.table(evaluate.click_pairs(fit)),
        segments.table(fit),
        evaluate.MergeSettings(),
    )
    choices = {
        f"{name}@{share:g}": evaluate.MergeSettings(tower_share=share, order=order)
        for name, order in ORDERS.items()
        for share in SHARES
    }
    recalls = evaluate.merged_recalls(inputs, list(choices.values()))
    recall = {name: round(value, 4) for name, value in zip(choices, recalls, strict=True)}
    rank = {order: position for position, order in enumerate(ORDERS.values())}
    best = max(
        choices,
        key=lambda name: (recall[name], choices[name].tower_share, -rank[choices[name].order]),
    )
    return MergeChoice(choices[best], recall, _held_out_clicks(inputs))


def _held_out_clicks(inputs: evaluate.RetrievalInputs) -> int:
    return len(evaluate.new_targets(inputs.targets, inputs.history))


def _without_pairs(train: pd.DataFrame, held: pd.DataFrame) -> pd.DataFrame:
    """The train rows of every (user, item) pair that has no held-out click."""
    keys = ["user_id_raw", "item_id_raw"]
    marked = train.merge(held[keys].drop_duplicates(), on=keys, how="left", indicator=True)
    return train[(marked["_merge"] == "left_only").to_numpy()].reset_index(drop=True)
