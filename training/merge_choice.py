"""The build chooses how the second source is made and merged with the tower's list, on train
clicks that neither trained the Two-Tower nor chose its epoch (`retrieval.ClickSplit.merge`),
never on the valid split.

The choices, in two steps. First, which user columns make a segment (`segments.COLUMN_CHOICES`):
by the recall@100 of the segment's list alone, over FOLDS folds of all train rows (it
needs no tower, so every train click can be a held-out one: the choice is steadier than on 5%).
Then the second source's lists in order (`ORDERS`: the items co-clicked with the user's past
items, the popular items of the user's segment, the most clicked overall) and the tower's share
of the merged places, by the merged recall@100 of the clicks the tower never saw. Both recalls
are the evaluation table's measure (each held-out click on an item the user had not clicked
before, among K candidates without the user's past items), with every list made from the other
train rows alone; the best wins (ties: the earlier columns; the larger share, then the earlier
order).

Shares stop at 0.9: at 1.0 the tower's list fills every place and the second source, the guard
against a weak tower, never serves. They start at 0.1: the tower always brings 10 of 100.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from training import coclick, evaluate, popular, segments

SHARES = (0.1, 0.3, 0.5, 0.7, 0.9)
COLUMNS = segments.COLUMN_CHOICES
FOLDS = 3
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
    segment_recall: dict[str, float]
    """Recall@100 of the segment's list alone per `<column>+<column>...`, over folds."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "held_out_clicks": self.held_out_clicks,
            "segment_recall_at_100": self.segment_recall,
            "merged_recall_at_100": self.recall,
        }


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
    segment_recall = segment_recalls(train)
    columns = best_columns(segment_recall)
    fit = _without_pairs(train, held_clicks)
    inputs = evaluate.retrieval_inputs(
        {"train": fit, "valid": held_clicks},
        query_tower,
        items,
        item_vectors,
        popular.most_clicked_ids(fit),
        coclick.table(evaluate.click_pairs(fit)),
        segments.table(fit, columns),
        evaluate.MergeSettings(segment_columns=columns),
    )
    choices = {
        f"{name}@{share:g}": evaluate.MergeSettings(share, order, columns)
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
    return MergeChoice(choices[best], recall, _held_out_clicks(inputs), segment_recall)


def segment_recalls(train: pd.DataFrame, folds: int = FOLDS) -> dict[str, float]:
    """Per column choice (`<column>+<column>...`): the mean recall@100 of the segment's list
    alone over `folds` folds of the encoded `train` rows."""
    fold = np.random.default_rng(0).integers(0, folds, len(train))
    user_segments = {c: evaluate.user_segments({"train": train}, c) for c in COLUMNS}
    totals = dict.fromkeys(COLUMNS, 0.0)
    for held in range(folds):
        fit, rest = train[fold != held], train[fold == held]
        history, targets = evaluate.click_pairs(fit), evaluate.click_pairs(rest)
        popular_ids = popular.most_clicked_ids(fit)
        for columns in COLUMNS:
            totals[columns] += evaluate.segment_recall(
                history,
                targets,
                popular_ids,
                segments.as_lists(segments.table(fit, columns)),
                user_segments[columns],
            )
    return {"+".join(columns): round(total / folds, 4) for columns, total in totals.items()}


def best_columns(segment_recall: dict[str, float]) -> tuple[str, ...]:
    """The column choice with the best recall (ties: the earlier in COLUMNS, all three first)."""
    return max(COLUMNS, key=lambda c: (segment_recall["+".join(c)], -COLUMNS.index(c)))


def _held_out_clicks(inputs: evaluate.RetrievalInputs) -> int:
    return len(evaluate.new_targets(inputs.targets, inputs.history))


def _without_pairs(train: pd.DataFrame, held: pd.DataFrame) -> pd.DataFrame:
    """The train rows of every (user, item) pair that has no held-out click."""
    keys = ["user_id_raw", "item_id_raw"]
    marked = train.merge(held[keys].drop_duplicates(), on=keys, how="left", indicator=True)
    return train[(marked["_merge"] == "left_only").to_numpy()].reset_index(drop=True)
