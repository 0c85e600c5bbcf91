"""The `planted` synthetic generator (clicks follow planted user and item factors the features
partly reveal) and Merlin's signal-free one; `generators.GENERATORS` picks a generator by name."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.data.generator_common import (
    PLANTED_USERS,
    SyntheticData,
    conform,
    draw_users,
    sparse_ids,
    split,
)
from training.data.truth import ClickTruth

LATENT_DIM = 8


@dataclass(frozen=True)
class PlantedSizes:
    users: int
    items: int
    categories: int

    @classmethod
    def for_rows(cls, rows: int) -> PlantedSizes:
        items = max(12, rows // 10)
        return cls(
            users=max(20, rows // 20), items=items, categories=int(np.clip(items // 50, 3, 64))
        )


def generate_merlin(rows: int, seed: int, valid_share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Merlin's signal-free synthetic data, split into train and valid."""
    from merlin.datasets.synthetic import generate_data

    np.random.seed(seed)
    train, valid = generate_data("aliccp-raw", rows, set_sizes=(1 - valid_share, valid_share))
    return conform(train.to_ddf().compute()), conform(valid.to_ddf().compute())


def generate_planted(rows: int, seed: int, valid_share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Impressions whose clicks follow planted user/item factors; random train/valid split."""
    data = planted(rows, seed, valid_share)
    return data.train, data.valid


def planted(rows: int, seed: int, valid_share: float) -> SyntheticData:
    """The planted generator's split data and its click truth."""
    rng = np.random.default_rng(seed)
    sizes = PlantedSizes.for_rows(rows)
    users = _planted_users(rng, sizes.users)
    items = _planted_items(rng, sizes.items, sizes.categories)
    category_vecs = _category_factors(rng, sizes.categories)
    user_vecs = _user_factors(rng, users)
    item_vecs = _item_factors(rng, items, category_vecs)

    user_pos = rng.choice(sizes.users, size=rows, p=_activity(rng, sizes.users))
    item_pos = _exposures(rng, user_pos, user_vecs, items, category_vecs)
    affinity = np.einsum("ij,ij->i", user_vecs[user_pos], item_vecs[item_pos])
    logit = 1.8 * affinity + items["quality"].to_numpy()[item_pos] - 2.2
    click = rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))

    frame = pd.concat(
        [
            users.drop(columns=["taste_key"]).iloc[user_pos].reset_index(drop=True),
            items.drop(columns=["quality", "popularity"]).iloc[item_pos].reset_index(drop=True),
        ],
        axis=1,
    )
    frame["user_consumption_1"] = frame["user_consumption_2"]
    frame["item_intention"] = frame["item_category"]
    for col in ("user_item_categories", "user_item_shops", "user_item_brands"):
        frame[col] = rng.integers(1, 1000, rows)
    frame["user_item_intentions"] = rng.integers(1, 1000, rows)
    frame["position"] = rng.integers(0, 4, rows)
    frame["click"] = click.astype("int64")
    frame["conversion"] = (click & (rng.random(rows) < 0.1)).astype("int64")
    train, valid = split(conform(frame), rng, valid_share)
    truth = ClickTruth(
        user_ids=users["user_id"].to_numpy(),
        item_ids=items["item_id"].to_numpy(),
        user_vecs=1.8 * user_vecs,
        item_vecs=item_vecs,
        user_bias=np.zeros(len(users)),
        item_bias=items["quality"].to_numpy() - 2.2,
    )
    return SyntheticData(train, valid, truth)


def _planted_users(rng: np.random.Generator, count: int) -> pd.DataFrame:
    users = draw_users(rng, count, PLANTED_USERS)
    users["taste_key"] = users["user_group"] * 10 + users["user_age"]
    return users


def _planted_items(rng: np.random.Generator, count: int, categories: int) -> pd.DataFrame:
    items = pd.DataFrame({"item_id": sparse_ids(rng, count)})
    items["item_category"] = 1 + rng.permutation(np.arange(count) % categories)
    brands_per_category = 5
    items["item_brand"] = (items["item_category"] - 1) * brands_per_category + rng.integers(
        1, brands_per_category + 1, count
    )
    items["item_shop"] = rng.integers(1, max(2, count // 4), count)
    items["quality"] = rng.normal(0.0, 0.3, count)
    items["popularity"] = rng.pareto(1.5, count) + 1.0
    return items


def _user_factors(rng: np.random.Generator, users: pd.DataFrame) -> npt.NDArray[np.float64]:
    """A user's taste: shared by everyone of the same group and age band, plus a little noise."""
    group = rng.normal(0.0, 1.0, (13, LATENT_DIM))
    age = rng.normal(0.0, 0.6, (7, LATENT_DIM))
    noise = rng.normal(0.0, 0.3, (len(users), LATENT_DIM))
    vecs = group[users["user_group"]] + age[users["user_age"]] + noise
    scaled: npt.NDArray[np.float64] = vecs / np.sqrt(LATENT_DIM)
    return scaled


def _category_factors(rng: np.random.Generator, categories: int) -> npt.NDArray[np.float64]:
    """One hidden profile per category (row 0 unused: categories start at 1)."""
    return rng.normal(0.0, 1.0, (categories + 1, LATENT_DIM))


def _item_factors(
    rng: np.random.Generator, items: pd.DataFrame, category_vecs: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """An item's profile: its category's, plus a little noise."""
    noise = rng.normal(0.0, 0.3, (len(items), LATENT_DIM))
    vecs: npt.NDArray[np.float64] = category_vecs[items["item_category"]] + noise
    return vecs


def _activity(rng: np.random.Generator, users: int) -> npt.NDArray[np.float64]:
    weights = rng.lognormal(0.0, 0.8, users)
    shares: npt.NDArray[np.float64] = weights / weights.sum()
    return shares


def _exposures(
    rng: np.random.Generator,
    user_pos: npt.NDArray[np.int64],
    user_vecs: npt.NDArray[np.float64],
    items: pd.DataFrame,
    category_vecs: npt.NDArray[np.float64],
) -> npt.NDArray[np.int64]:
    """Half the impressions follow popularity, half an earlier recommender's guess of taste.

    The targeted half picks a category by the user's affinity to it, then an item of it.
    """
    rows = len(user_pos)
    popularity = items["popularity"].to_numpy()
    by_popularity = rng.choice(len(items), size=rows, p=popularity / popularity.sum())

    affinity = 3.0 * user_vecs @ category_vecs[1:].T
    prefs = np.exp(affinity - affinity.max(axis=1, keepdims=True))
    cumulative = (prefs / prefs.sum(axis=1, keepdims=True)).cumsum(axis=1)[user_pos]
    category_idx = (rng.random((rows, 1)) > cumulative).sum(axis=1)
    category_idx = np.minimum(category_idx, cumulative.shape[1] - 1)

    item_category = items["item_category"].to_numpy() - 1
    by_category = np.argsort(item_category, kind="stable")
    counts = np.bincount(item_category, minlength=cumulative.shape[1])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    offsets = (rng.random(rows) * counts[category_idx]).astype(np.int64)
    targeted = by_category[starts[category_idx] + offsets]

    return np.where(rng.random(rows) < 0.5, by_popularity, targeted)
