"""How the `longtail` generator chose impressions (training/data/synthetic_longtail.py), as
probabilities: its mix of sources (`SHARES`) and the `Exposure` it returns with its data."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.data.truth import ClickTruth

SHARES = {"recommender": 0.45, "popularity": 0.35, "uniform": 0.20}


@dataclass(frozen=True)
class Exposure:
    """How the generator chose impressions, as probabilities: the best a model of which items
    a user is shown could know (training/evaluation/ceiling.py). Rows follow `truth.user_ids` and
    `truth.item_ids`."""

    category_preference: npt.NDArray[np.float64]
    """[users, categories]: the earlier recommender's P(category | user)."""
    item_category: npt.NDArray[np.int64]
    """[items]: each item's category, 0-based."""
    within_category: npt.NDArray[np.float64] = field(repr=False)
    """[items]: the earlier recommender's P(item | its category), by the root of popularity."""
    popularity: npt.NDArray[np.float64] = field(repr=False)
    """[items]: P(item) of the popularity-chosen impressions."""

    @classmethod
    def of(
        cls, truth: ClickTruth, items: pd.DataFrame, category_preference: npt.NDArray[np.float64]
    ) -> Exposure:
        by_id = items.set_index("item_id").reindex(truth.item_ids)
        category = by_id["item_category"].to_numpy() - 1
        popularity = by_id["popularity"].to_numpy()
        root = np.sqrt(popularity)
        within = root / np.bincount(category, weights=root)[category]
        return cls(category_preference, category, within, popularity / popularity.sum())

    def probability(self, user_rows: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
        """[len(user_rows), items]: P(an impression of the user shows the item)."""
        recommender = self.category_preference[user_rows][:, self.item_category]
        shown: npt.NDArray[np.float64] = (
            SHARES["recommender"] * recommender * self.within_category
            + SHARES["popularity"] * self.popularity
            + SHARES["uniform"] / len(self.popularity)
        )
        return shown
