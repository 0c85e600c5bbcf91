"""The build chooses how the second source is made and merged with the tower's list, on the
train clicks held out of the Two-Tower's training (never the valid split).

The choices: which list comes first in the second source (the items co-clicked with the
user's past items, or the most clicked of the user's segment) and the tower's share of the
merged places. For each, the merged recall@100 of the held-out clicks (the evaluation table's
measure: each click on an item the user had not clicked before, among K candidates without
the user's past items) is measured with everything the second source reads (most clicked,
co-click table, segment lists) made from the remaining train rows alone; the best wins.

Shares stop at 0.9: at 1.0 the tower's list fills every place and the second source, the guard
against a weak tower, never serves. The held-out clicks also chose the tower's epoch, which
flatters the tower a little: a choice between the tower and the second source leans, if
anything, to the tower.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from training import coclick, evaluate, popular, segments

SHARES = (0.5, 0.7, 0.9)
ORDERS = {"coclick_first": False, "segment_first": True}


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
    """`train`: the encoded train rows; `held_clicks`: the encoded click rows the tower held out
    (`retrieval.held_out_clicks`); the query tower, and the encoded catalogue `items` with
    their vectors."""
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
        _name(merge): merge
        for merge in (
            evaluate.MergeSettings(tower_share=share, segment_first=first)
            for first in ORDERS.values()
            for share in SHARES
        )
    }
    recalls = evaluate.merged_recalls(inputs, list(choices.values()))
    recall = {name: round(value, 4) for name, value in zip(choices, recalls, strict=True)}
    # ties: the larger share, then co-clicked first (the settings before the build chose)
    best = max(
        choices.values(), key=lambda m: (recall[_name(m)], m.tower_share, not m.segment_first)
    )
    return MergeChoice(best, recall, _held_out_clicks(inputs))


def _name(merge: evaluate.MergeSettings) -> str:
    order = "segment_first" if merge.segment_first else "coclick_first"
    return f"{order}@{merge.tower_share:g}"


def _held_out_clicks(inputs: evaluate.RetrievalInputs) -> int:
    return len(evaluate.new_targets(inputs.targets, inputs.history))


def _without_pairs(train: pd.DataFrame, held: pd.DataFrame) -> pd.DataFrame:
    """The train rows of every (user, item) pair that has no held-out click."""
    keys = ["user_id_raw", "item_id_raw"]
    marked = train.merge(held[keys].drop_duplicates(), on=keys, how="left", indicator=True)
    return train[(marked["_merge"] == "left_only").to_numpy()].reset_index(drop=True)
