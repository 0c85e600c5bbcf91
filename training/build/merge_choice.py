"""The build chooses how the second source is made and merged with the tower's list, on the
clicks of the train rows held out of every model (training/build/choice_split.py), never on the
valid split.

The choices, in two steps. First, how the segment lists are made (`segments.RECIPES`: which user
columns make a segment, and whether a segment's category taste is its own or its columns'
combined): by the recall@100 of the segment's list alone, over FOLDS folds of all train rows (it
needs no tower, so every train click can be a held-out one: the choice is steadier than on 5%).
Then the second source's lists in order (`ORDERS`: the items the item-item model links to the
user's history, the items co-clicked with the user's past items, the popular items of the
user's segment, the most clicked overall) and the tower's share of the merged places, by the
merged recall@100 of the held-out clicks. Both recalls are the evaluation table's measure (each
held-out click on an item the user had not clicked before, among K candidates without what the
filter removes: training/build/order_choice.py chose that first), with every list made from the fit
rows alone; the best wins (ties: the earlier recipe; the larger share, then the earlier order).

Shares stop at 0.9: at 1.0 the tower's list fills every place and the second source, the guard
against a weak tower, never serves. They start at 0.1: the tower always brings 10 of 100.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from services.ensemble.candidates import IdArray
from services.ensemble.final_score import OrderSettings
from training.build import coclick, popular, segments
from training.build.choice_split import ChoiceSplit
from training.evaluation import candidate_lists, evaluate, evaluate_top10, user_clicks

SHARES = (0.1, 0.3, 0.5, 0.7, 0.9)
COLUMNS = segments.COLUMN_CHOICES
RECIPES = segments.RECIPES
FOLDS = 3
FOLD_USERS = 1000
"""Users whose held-out clicks measure a fold (a seeded sample beyond it; the recipes are
compared on the same users)."""
ORDERS = {
    "itemitem_first": ("itemitem", "coclick", "segment_popular", "popular_items"),
    "coclick_first": ("coclick", "segment_popular", "popular_items"),
    "segment_first": ("segment_popular", "coclick", "popular_items"),
    "segment_then_popular": ("segment_popular", "popular_items"),
}


@dataclass(frozen=True)
class MergeChoice:
    settings: candidate_lists.MergeSettings
    recall: dict[str, float]
    """Held-out merged recall@100 per `<order>@<share>`."""
    held_out_clicks: int
    segment_recall: dict[str, float]
    """Recall@100 of the segment's list alone per `segments.Recipe.name`, over folds."""
    segments: segments.Recipe
    """How the build's segment lists are made (their columns are `settings.segment_columns`)."""
    inputs: candidate_lists.RetrievalInputs
    """The held-out users with their lists from the fit rows and the chosen merge: what the
    weight choice (training/build/order_choice.py) reads."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "held_out_clicks": self.held_out_clicks,
            "segment_recall_at_100": self.segment_recall,
            "segment_recipe": self.segments.name,
            "merged_recall_at_100": self.recall,
        }


def choose(
    segment_recall: dict[str, float],
    split: ChoiceSplit,
    query_tower: Any,
    items: pd.DataFrame,
    item_vectors: npt.NDArray[np.float32],
    itemitem_fit: tuple[pd.DataFrame, tuple[IdArray, npt.NDArray[np.float32]]],
    ordering: OrderSettings,
) -> MergeChoice:
    """`segment_recall`: each segment recipe's (`segment_recalls` of the encoded train rows);
    `split`: the train rows' fit and held-out rows; the query tower, the encoded catalogue
    `items` with their vectors, the item-item weights fit on `split.fit` (served table, dense)
    and the filter `ordering` chose."""
    recipe = best_recipe(segment_recall)
    columns = recipe.columns
    users = split.users_with_new_clicks(evaluate_top10.MAX_USERS)
    sources = evaluate.Sources(
        popular.most_clicked_ids(split.fit),
        coclick.table(user_clicks.click_pairs(split.fit)),
        segments.table(split.fit, recipe),
        candidate_lists.MergeSettings(segment_columns=columns),
        itemitem_fit[0],
        ordering,
        itemitem_fit[1],
    )
    inputs = evaluate.retrieval_inputs(
        {"train": split.fit, "valid": split.held[split.held["user_id_raw"].isin(users)]},
        query_tower,
        items,
        item_vectors,
        sources,
    )
    choices = {
        f"{name}@{share:g}": candidate_lists.MergeSettings(share, order, columns)
        for name, order in ORDERS.items()
        for share in SHARES
    }
    recalls = candidate_lists.merged_recalls(inputs, list(choices.values()))
    recall = {name: round(value, 4) for name, value in zip(choices, recalls, strict=True)}
    rank = {order: position for position, order in enumerate(ORDERS.values())}
    best = max(
        choices,
        key=lambda name: (recall[name], choices[name].tower_share, -rank[choices[name].order]),
    )
    chosen = dataclasses.replace(inputs, merge=choices[best])
    return MergeChoice(
        choices[best], recall, _held_out_clicks(inputs), segment_recall, recipe, chosen
    )


def segment_recalls(train: pd.DataFrame, folds: int = FOLDS) -> dict[str, float]:
    """Per recipe (`segments.Recipe.name`): the mean recall@100 of the segment's list alone
    over `folds` folds of the encoded `train` rows."""
    fold = np.random.default_rng(0).integers(0, folds, len(train))
    user_segments = {c: evaluate.user_segments({"train": train}, c) for c in COLUMNS}
    totals = dict.fromkeys(RECIPES, 0.0)
    for held in range(folds):
        fit, rest = train[fold != held], train[fold == held]
        history, targets = user_clicks.click_pairs(fit), user_clicks.click_pairs(rest)
        popular_ids = popular.most_clicked_ids(fit)
        for recipe in RECIPES:
            totals[recipe] += candidate_lists.segment_recall(
                history,
                targets,
                popular_ids,
                segments.as_lists(segments.table(fit, recipe)),
                user_segments[recipe.columns],
                max_users=FOLD_USERS,
            )
    return {recipe.name: round(total / folds, 4) for recipe, total in totals.items()}


def best_recipe(segment_recall: dict[str, float]) -> segments.Recipe:
    """The recipe with the best recall (ties: the earlier in RECIPES: all three columns by
    their own clicks first)."""
    return max(RECIPES, key=lambda r: (segment_recall[r.name], -RECIPES.index(r)))


def _held_out_clicks(inputs: candidate_lists.RetrievalInputs) -> int:
    return len(user_clicks.new_targets(inputs.targets, inputs.history))
