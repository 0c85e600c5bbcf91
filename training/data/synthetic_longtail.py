"""The `longtail` synthetic generator: a world built differently from the `planted` one.

What differs, on purpose (so settings that hold on both are not fitted to one):

* Denser and smaller: about 33 impressions per user and 67 per item (planted: 20 and 10).
* A long popularity tail: item exposure follows a Zipf law over a random order of the catalogue.
* Mostly hidden factors: a user's taste is a quarter visible in the features (group, age,
  gender), the rest is the user's own; an item's profile is its category's and brand's plus
  its own. A user's click propensity is partly their consumption level, partly hidden.
* Exposure bias: 45% of impressions were chosen by an earlier recommender that saw only the
  visible part of taste, 35% by popularity, 20% uniformly; the earlier recommender's items sit
  higher on the page, and the page position lowers clicks.

Clicks are Bernoulli draws of `ClickTruth.probability` (at page position 0) minus the position
effect; the truth is returned with the data, so the quality of a recommendation is measurable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.data.exposure import SHARES, Exposure
from training.data.generator_common import (
    SyntheticData,
    UserDraw,
    conform,
    draw_users,
    sparse_ids,
    split,
)
from training.data.truth import ClickTruth

LATENT_DIM = 16
POSITION_EFFECT = 0.25
VISIBLE_WEIGHT, HIDDEN_WEIGHT = 0.5, 0.87
"""A user's taste: VISIBLE_WEIGHT x the part the features show + HIDDEN_WEIGHT x their own."""
TASTE_SCALE = 1.5 / np.sqrt(LATENT_DIM)


@dataclass(frozen=True)
class LongtailSizes:
    users: int
    items: int
    categories: int

    @classmethod
    def for_rows(cls, rows: int) -> LongtailSizes:
        items = max(20, rows // 67)
        return cls(
            users=max(30, rows // 33), items=items, categories=int(np.clip(items // 30, 4, 40))
        )


def generate(rows: int, seed: int, valid_share: float) -> SyntheticData:
    rng = np.random.default_rng([seed, 7919])
    sizes = LongtailSizes.for_rows(rows)
    users = _users(rng, sizes.users)
    items = _items(rng, sizes.items, sizes.categories)
    truth, visible_taste, category_vecs = _truth(rng, users, items, sizes.categories)
    exposure = Exposure.of(truth, items, _category_preference(visible_taste, category_vecs))

    activity = rng.lognormal(0.0, 1.0, sizes.users)
    user_pos = rng.choice(sizes.users, size=rows, p=activity / activity.sum())
    item_pos, from_recommender = _exposures(rng, user_pos, items, exposure.category_preference)
    position = np.where(from_recommender, rng.integers(0, 2, rows), rng.integers(0, 4, rows))
    p_true = truth.probability(
        users["user_id"].to_numpy()[user_pos], items["item_id"].to_numpy()[item_pos]
    )
    logit = np.log(p_true / (1.0 - p_true)) - POSITION_EFFECT * position
    click = rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))

    frame = pd.concat(
        [
            users.iloc[user_pos].reset_index(drop=True),
            items.drop(columns=["popularity"]).iloc[item_pos].reset_index(drop=True),
        ],
        axis=1,
    )
    frame["user_consumption_1"] = frame["user_consumption_2"]
    frame["item_intention"] = frame["item_brand"]
    for col in ("user_item_categories", "user_item_shops", "user_item_brands"):
        frame[col] = rng.integers(1, 500, rows)
    frame["user_item_intentions"] = rng.integers(1, 500, rows)
    frame["position"] = position
    frame["click"] = click.astype("int64")
    frame["conversion"] = (click & (rng.random(rows) < 0.2)).astype("int64")
    train, valid = split(conform(frame), rng, valid_share)
    visible_user_vecs = VISIBLE_WEIGHT * visible_taste * TASTE_SCALE
    return SyntheticData(train, valid, truth, exposure, visible_user_vecs)


LONGTAIL_USERS = UserDraw(9, 8, 7, "user_gender", 8, 2000, 800, 1500, 120)


def _users(rng: np.random.Generator, count: int) -> pd.DataFrame:
    return draw_users(rng, count, LONGTAIL_USERS)


def _items(rng: np.random.Generator, count: int, categories: int) -> pd.DataFrame:
    items = pd.DataFrame({"item_id": sparse_ids(rng, count)})
    # Category sizes are uneven too: a few big categories, many small ones.
    weights = rng.dirichlet(np.full(categories, 0.8))
    items["item_category"] = 1 + rng.choice(categories, size=count, p=weights)
    items.loc[: categories - 1, "item_category"] = np.arange(1, categories + 1)  # none empty
    brands_per_category = 8
    items["item_brand"] = (items["item_category"] - 1) * brands_per_category + rng.integers(
        1, brands_per_category + 1, count
    )
    items["item_shop"] = rng.integers(1, max(2, count // 6), count)
    rank = rng.permutation(count)
    items["popularity"] = (1.0 + rank) ** -1.05
    return items


def _truth(
    rng: np.random.Generator, users: pd.DataFrame, items: pd.DataFrame, categories: int
) -> tuple[ClickTruth, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The click truth, each user's visible taste, and the category factors (row 0 unused)."""
    group = rng.normal(0.0, 1.0, (9, LATENT_DIM))
    age = rng.normal(0.0, 0.7, (8, LATENT_DIM))
    gender = rng.normal(0.0, 0.5, (3, LATENT_DIM))
    visible = (
        group[users["user_group"]] + age[users["user_age"]] + gender[users["user_gender"]]
    ) / np.sqrt(1.0 + 0.49 + 0.25)
    hidden = rng.normal(0.0, 1.0, (len(users), LATENT_DIM))
    user_vecs = VISIBLE_WEIGHT * visible + HIDDEN_WEIGHT * hidden

    category_vecs = rng.normal(0.0, 1.0, (categories + 1, LATENT_DIM))
    brand_vecs = rng.normal(0.0, 1.0, (int(items["item_brand"].max()) + 1, LATENT_DIM))
    item_vecs = (
        0.6 * category_vecs[items["item_category"]]
        + 0.35 * brand_vecs[items["item_brand"]]
        + 0.72 * rng.normal(0.0, 1.0, (len(items), LATENT_DIM))
    )

    log_pop = np.log(items["popularity"].to_numpy())
    item_bias = 0.3 * (log_pop - log_pop.mean()) / log_pop.std() + rng.normal(0, 0.4, len(items))
    user_bias = 0.35 * (users["user_consumption_2"].to_numpy() - 2) + rng.normal(0, 0.3, len(users))
    truth = ClickTruth(
        user_ids=users["user_id"].to_numpy(),
        item_ids=items["item_id"].to_numpy(),
        user_vecs=user_vecs * TASTE_SCALE,
        item_vecs=item_vecs,
        user_bias=user_bias - 2.3,
        item_bias=item_bias,
    )
    return truth, visible, category_vecs


def _category_preference(
    visible_taste: npt.NDArray[np.float64], category_vecs: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """[users, categories]: the earlier recommender's P(category | user), by visible taste."""
    affinity = 2.0 * visible_taste @ category_vecs[1:].T / np.sqrt(LATENT_DIM)
    prefs = np.exp(affinity - affinity.max(axis=1, keepdims=True))
    return np.asarray(prefs / prefs.sum(axis=1, keepdims=True))


def _exposures(
    rng: np.random.Generator,
    user_pos: npt.NDArray[np.int64],
    items: pd.DataFrame,
    category_preference: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Each impression's item row, and whether the earlier recommender chose it."""
    rows = len(user_pos)
    count = len(items)
    popularity = items["popularity"].to_numpy()
    by_popularity = rng.choice(count, size=rows, p=popularity / popularity.sum())
    uniform = rng.integers(0, count, rows)

    # The earlier recommender: a category by visible taste, then an item of it by popularity.
    cumulative = category_preference.cumsum(axis=1)[user_pos]
    category_idx = np.minimum(
        (rng.random((rows, 1)) > cumulative).sum(axis=1), category_preference.shape[1] - 1
    )
    item_category = items["item_category"].to_numpy() - 1
    order = np.lexsort((-popularity, item_category))
    weight = np.sqrt(popularity[order])
    cumulative_weight = np.cumsum(weight)
    counts = np.bincount(item_category, minlength=cumulative.shape[1])
    ends = np.cumsum(counts)
    starts = ends - counts
    low = np.where(starts > 0, cumulative_weight[np.maximum(starts - 1, 0)], 0.0)
    high = cumulative_weight[ends - 1]
    draw = low[category_idx] + rng.random(rows) * (high - low)[category_idx]
    targeted = order[np.minimum(np.searchsorted(cumulative_weight, draw), count - 1)]

    source = rng.choice(3, size=rows, p=list(SHARES.values()))
    chosen = np.select([source == 0, source == 1], [targeted, by_popularity], uniform)
    return chosen, source == 0
