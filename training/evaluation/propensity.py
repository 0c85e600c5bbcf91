"""How likely the old system was to show a user an item, estimated from the log's impressions,
and the held-out clicks weighted by its inverse.

In an impression log a held-out click needs the item to have been shown first, so raw recall
and NDCG on held-out clicks reward the lists that copy the old system's exposure (its popular
items, the segment's) as much as the lists users click when shown. Weighting each held-out
click by 1 / P(shown) (inverse propensity scoring: Schnabel et al. 2016, "Recommendations as
Treatments"; Yang et al. 2018, "Unbiased Offline Recommender Evaluation for
Missing-Not-At-Random Implicit Feedback") estimates the clicks a list would get if its items
were shown. The estimate is a mixture, as systems mix sources: half the item's share of all
impressions, half the user's share of impressions in the item's category times the item's
share within that category. On both generators' 100k builds, whose truth is known, the
debiased NDCG@10 ranks seven lists nearly as their true click probability does (Spearman 0.71
and 0.86), the raw NDCG@10 nearly at random (-0.11 and -0.07); at 1M rows (100k items) too few
valid clicks are found for either to separate the lists (docs/quality.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.evaluation.user_clicks import CatalogueIds

ITEM_SHARE = 0.5
"""The mixture's weight on the item's overall share of impressions."""
CATEGORY_PRIOR_ROWS = 5.0
"""A user's category shares are smoothed toward the log's as if they had this many more rows."""


@dataclass(frozen=True)
class Exposure:
    """P(an impression of the user shows the item), from a log's rows (catalogue ids)."""

    item_share: pd.Series
    """item id -> its share of the impressions, add-one smoothed."""
    item_category: pd.Series
    """item id -> its category."""
    within_category: pd.Series
    """item id -> its share of its category's impressions."""
    category_share: pd.Series
    """category -> its share of the impressions."""
    user_category_rows: pd.Series
    """(user id, category) -> the user's impressions in the category."""
    user_rows: pd.Series
    """user id -> the user's impressions."""

    @classmethod
    def of(cls, rows: pd.DataFrame) -> Exposure:
        """From encoded rows with `user_id_raw`, `item_id_raw` and `item_category`."""
        items = rows.groupby("item_id_raw").size()
        categories = rows.groupby("item_category").size()
        item_category = rows.drop_duplicates("item_id_raw").set_index("item_id_raw")
        category = item_category["item_category"].reindex(items.index)
        return cls(
            item_share=(items + 1.0) / (len(rows) + len(items)),
            item_category=category,
            within_category=items / categories.reindex(category.to_numpy()).to_numpy(),
            category_share=categories / len(rows),
            user_category_rows=rows.groupby(["user_id_raw", "item_category"]).size(),
            user_rows=rows.groupby("user_id_raw").size(),
        )

    def probability(
        self, user_ids: CatalogueIds, item_ids: CatalogueIds
    ) -> npt.NDArray[np.float64]:
        """P(shown) of each (user, item) pair; items the log never showed get the smallest
        item share, and only it."""
        floor = 1.0 / (float(self.user_rows.sum()) + len(self.item_share))
        item_share = self.item_share.reindex(item_ids).fillna(floor).to_numpy()
        category = self.item_category.reindex(item_ids)
        known = category.notna().to_numpy()
        pairs = pd.MultiIndex.from_arrays([user_ids[known], category[known].to_numpy()])
        in_category = self.user_category_rows.reindex(pairs).fillna(0.0).to_numpy()
        prior = self.category_share.reindex(category[known].to_numpy()).to_numpy()
        seen = self.user_rows.reindex(user_ids[known]).fillna(0.0).to_numpy()
        user_share = (in_category + CATEGORY_PRIOR_ROWS * prior) / (seen + CATEGORY_PRIOR_ROWS)
        within = self.within_category.reindex(item_ids[known]).to_numpy()
        by_user = np.zeros(len(item_ids))
        by_user[known] = user_share * within
        shown: npt.NDArray[np.float64] = ITEM_SHARE * item_share + (1.0 - ITEM_SHARE) * by_user
        return shown


def click_weights(
    exposure: Exposure, user_ids: CatalogueIds, rows: npt.NDArray[np.int64], items: CatalogueIds
) -> npt.NDArray[np.float64]:
    """1 / P(shown) of each target click (row of `user_ids`, item id)."""
    weights: npt.NDArray[np.float64] = 1.0 / exposure.probability(user_ids[rows], items)
    return weights
