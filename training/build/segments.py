"""The segment lists behind the second candidate source: per user segment (the encoded values
of some of `SEGMENT_COLUMNS`), the items its users clicked most in train, at most ITEMS per
segment. Which of the columns make the segment, each build chooses (training/build/merge_choice.py,
among `COLUMN_CHOICES`): finer segments are closer to a user's taste, coarser ones have more
clicks each.

Users alike in these raw Ali-CCP fields see and click alike items, so "most clicked in my
segment" is both a baseline a personalized model must beat (training/evaluation/evaluate.py) and a
source of candidates where the Two-Tower is weak; serving reads the same columns from the
user features it already fetches.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import numpy.typing as npt
import pandas as pd

from services.ensemble.candidates import SegmentLists, segment_keys
from training.data.schema import TARGET

SEGMENT_COLUMNS = ("user_group", "user_age", "user_gender")
COLUMN_CHOICES: tuple[tuple[str, ...], ...] = tuple(
    columns
    for size in range(len(SEGMENT_COLUMNS), 0, -1)
    for columns in combinations(SEGMENT_COLUMNS, size)
)
"""Every non-empty subset of SEGMENT_COLUMNS, all three first (the segment of builds made
before the choice)."""
ITEMS = 300
"""Per segment: as many as the most clicked list (a row reads at most 2 K + its history)."""
CATEGORY_PRIOR = 10.0
"""How much an item's expected clicks in the segment count beside its own clicks there (see
`table`). Chosen on 3 folds of train of both generators (longtail 50k and 100k, planted 20k;
recall@100 of the segment's list alone): 1, 3 and 10 each raised it on all three, 10 the most
(by user_group: longtail 50k 0.555 -> 0.609, 100k 0.585 -> 0.608, planted 20k 0.438 -> 0.499)."""
TOP_CATEGORIES = 30
"""Per segment, the categories it clicked most whose items are candidates for its list."""
TASTE_SMOOTHING = 1.0
"""Pseudo-clicks per category pulling a column value's category shares toward the overall
ones in `combined_taste` (a value with few clicks says little). On 3 folds of train of four
draws of both generators, 0.3 was within 0.002 of 1 and 3 lower on all four (by up to 0.008);
raising each column's ratio to the power 0.7 or 1.3 was lower on three of four."""
COLUMNS = ("segment", "item_id", "score")
INDEX = ["segment", "category"]


def keys(frame: pd.DataFrame, columns: tuple[str, ...] = SEGMENT_COLUMNS) -> npt.NDArray[np.int64]:
    """int64 segment key per row of an encoded frame (`candidates.segment_keys`)."""
    return segment_keys([frame[name].to_numpy() for name in columns])


@dataclass(frozen=True)
class Recipe:
    """How a build makes its segment lists: which columns key a segment, and how a segment's
    taste for a category is estimated."""

    columns: tuple[str, ...] = SEGMENT_COLUMNS
    combined: bool = False
    """False: from the segment's own clicks on the category. True: from each column value's
    clicks on it, combined as independent evidence (naive Bayes): a segment keyed by three
    columns has few clicks of its own, each of its values many (see `combined_taste`)."""

    @property
    def name(self) -> str:
        return "+".join(self.columns) + (" combined" if self.combined else "")


OWN_CLICKS = Recipe()
"""All three columns, each segment's own clicks: the lists of builds made before the choice."""
RECIPES: tuple[Recipe, ...] = (
    *(Recipe(columns) for columns in COLUMN_CHOICES),
    Recipe(SEGMENT_COLUMNS, combined=True),
)
"""What a build chooses among (training/build/merge_choice.py): every column choice by its own
clicks, and all three columns combined. Combining pays where a segment is too fine to have
clicks of its own; on 3 folds of train (best recipe's recall@100 of the list alone) it beat
every own-clicks choice on all five longtail draws (20k-100k rows: +0.014 to +0.026) and on two
of four planted ones (+0.002, +0.007; -0.001 and -0.009 on the other two, which keep theirs)."""


def table(train: pd.DataFrame, recipe: Recipe = OWN_CLICKS, items: int = ITEMS) -> pd.DataFrame:
    """From the encoded train rows: segment (keyed by `recipe.columns`), item_id (catalogue
    id), score; per segment the best first (ties: smaller id first), at most `items`.

    Own clicks (`recipe.combined` False): an item's score in a segment is its clicks there plus
    CATEGORY_PRIOR times the clicks the segment's taste for its category predicts: the
    segment's clicks on the category times the item's share of that category's clicks among
    all users. A segment has few clicks on any one item, many more on a category: the second
    term fills and orders its list where its own clicks are too few to. A user's own clicks
    count: the serving filter removes them from that user's list.

    Combined (`recipe.combined` True): the score is the segment's probability of the item's
    category (`combined_taste`) times the item's share of that category's clicks; every
    segment of the train users has a list, clicks or none."""
    clicked = train[train[TARGET].to_numpy() == 1]
    clicks = pd.DataFrame(
        {
            "segment": keys(clicked, recipe.columns),
            "item_id": clicked["item_id_raw"].to_numpy(),
            "category": clicked["item_category"].to_numpy(),
        }
    )
    clicks = clicks[clicks["segment"] >= 0]
    category = clicks.drop_duplicates("item_id").set_index("item_id")["category"]
    share = _category_share(clicks, category)
    if recipe.combined:
        taste = combined_taste(train, recipe.columns)
        pairs = _candidate_pairs(taste, share, category, None, items)
        probability = taste.reindex(pd.MultiIndex.from_frame(pairs[["segment", "category"]]))
        pairs["score"] = probability.to_numpy() * share.reindex(pairs["item_id"]).to_numpy()
    else:
        own = clicks.groupby(["segment", "item_id"]).size()
        taste = clicks.groupby(["segment", "category"]).size()
        pairs = _candidate_pairs(taste, share, category, own, items)
        pairs["score"] = _own_clicks_score(pairs, own, taste, share)
    pairs = pairs.sort_values(["segment", "score", "item_id"], ascending=[True, False, True])
    best = pairs.groupby("segment", sort=False).head(items).reset_index(drop=True)
    return best[list(COLUMNS)].astype({"segment": "int64", "item_id": "int32", "score": "float64"})


def _own_clicks_score(
    pairs: pd.DataFrame, own: pd.Series, taste: pd.Series, share: pd.Series
) -> npt.NDArray[np.float64]:
    own_clicks = own.reindex(pd.MultiIndex.from_frame(pairs[["segment", "item_id"]]))
    category_clicks = taste.reindex(pd.MultiIndex.from_frame(pairs[["segment", "category"]]))
    expected = category_clicks.fillna(0).to_numpy() * share.reindex(pairs["item_id"]).to_numpy()
    return np.asarray(own_clicks.fillna(0).to_numpy() + CATEGORY_PRIOR * expected)


def combined_taste(train: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    """(segment, category) -> P(category | segment), for every segment of the encoded train
    rows: the categories' share of all clicks, times for each column the ratio of the
    segment's value's share to that; normalized per segment. Each value's shares are smoothed
    toward the overall ones by TASTE_SMOOTHING pseudo-clicks per category."""
    clicked = train[train[TARGET].to_numpy() == 1]
    categories = np.sort(clicked["item_category"].unique())
    if not len(categories):
        return pd.Series(dtype=float, index=pd.MultiIndex.from_arrays([[], []], names=INDEX))
    overall = clicked["item_category"].value_counts().reindex(categories).to_numpy() + 1.0
    overall = overall / overall.sum()
    segments = train[list(columns)].drop_duplicates().reset_index(drop=True)
    log_taste = np.tile(np.log(overall), (len(segments), 1))
    for column in columns:
        counts = pd.crosstab(clicked[column], clicked["item_category"])
        smoothed = counts.reindex(columns=categories, fill_value=0).to_numpy() + (
            TASTE_SMOOTHING * len(categories) * overall
        )
        lift = np.log(smoothed / smoothed.sum(axis=1, keepdims=True)) - np.log(overall)
        by_value = pd.DataFrame(lift, index=counts.index)
        log_taste += by_value.reindex(segments[column].to_numpy()).fillna(0.0).to_numpy()
    taste = np.exp(log_taste - log_taste.max(axis=1, keepdims=True))
    taste /= taste.sum(axis=1, keepdims=True)
    index = pd.MultiIndex.from_arrays(
        [np.repeat(keys(segments, columns), len(categories)), np.tile(categories, len(segments))],
        names=INDEX,
    )
    series = pd.Series(taste.reshape(-1), index=index)
    return series[series.index.get_level_values("segment") >= 0]


def _category_share(clicks: pd.DataFrame, category: pd.Series) -> pd.Series:
    """item id -> its share of its category's clicks (all segments)."""
    per_item = clicks.groupby("item_id").size()
    per_category = per_item.groupby(category.reindex(per_item.index).to_numpy()).transform("sum")
    return per_item / per_category


def _candidate_pairs(
    taste: pd.Series, share: pd.Series, category: pd.Series, own: pd.Series | None, items: int
) -> pd.DataFrame:
    """(segment, item_id, category): the items a segment clicked (`own`; None: none), and the
    `items` best shares of each of its TOP_CATEGORIES categories by `taste`."""
    top_categories = (
        taste.rename("taste")
        .reset_index()
        .sort_values(["segment", "taste", "category"], ascending=[True, False, True])
        .groupby("segment", sort=False)
        .head(TOP_CATEGORIES)
    )
    by_share = pd.DataFrame({"item_id": share.index, "share": share.to_numpy()})
    by_share["category"] = category.reindex(by_share["item_id"]).to_numpy()
    top_items = (
        by_share.sort_values(["category", "share", "item_id"], ascending=[True, False, True])
        .groupby("category", sort=False)
        .head(items)
    )
    predicted = top_categories.merge(top_items, on="category")[["segment", "item_id"]]
    clicked = [] if own is None else [own.index.to_frame(index=False)]
    pairs = pd.concat([predicted, *clicked]).drop_duplicates()
    pairs["category"] = category.reindex(pairs["item_id"]).to_numpy()
    return pairs.reset_index(drop=True)


def as_lists(frame: pd.DataFrame) -> SegmentLists:
    return SegmentLists.from_columns(frame["segment"], frame["item_id"])
