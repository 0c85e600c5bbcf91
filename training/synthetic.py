"""Synthetic Ali-CCP data in the raw schema.

Three generators (`GENERATORS`; `--synthetic NAME`):

* ``merlin``: Merlin's own ``generate_data("aliccp-raw", n)``, as in the reference notebooks.
  Its clicks are independent of users and items, so no model can learn from it (AUC ~0.5).
* ``planted``: clicks follow hidden user and item factors that the features partly reveal,
  so a correct pipeline provably learns. Ids are sparse 7-digit numbers, as in real logs.
* ``longtail``: a structurally different world (`training/synthetic_longtail.py`): denser, a long
  popularity tail, factors mostly hidden from the features, exposure by an earlier recommender.
* ``ratings``: a consumption log (`training/synthetic_ratings.py`): each row an item the user
  chose, once, a click when they liked it, as rating logs are; the valid split is each user's
  last choices.

The signal generators also return their `ClickTruth`: the true click probability of any pair.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.schema import RAW_COLUMNS
from training.truth import ClickTruth

if TYPE_CHECKING:
    from training.synthetic_longtail import Exposure

FIRST_SPARSE_ID = 1_000_003
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


@dataclass(frozen=True)
class SyntheticData:
    train: pd.DataFrame
    valid: pd.DataFrame
    truth: ClickTruth | None
    """None for a generator without signal."""
    exposure: Exposure | None = None
    """How impressions were chosen (`synthetic_longtail.Exposure`); None where they were
    drawn independently of the user."""
    visible_user_vecs: npt.NDArray[np.float64] | None = None
    """The part of `truth.user_vecs` the user features show (rows as `truth.user_ids`); None
    where the generator does not split taste so."""


def generate(kind: str, rows: int, seed: int, valid_share: float = 0.3) -> SyntheticData:
    """KeyError for an unknown kind (see `GENERATORS`)."""
    return GENERATORS[kind](rows, seed, valid_share)


def generate_merlin(rows: int, seed: int, valid_share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Merlin's signal-free synthetic data, split into train and valid."""
    from merlin.datasets.synthetic import generate_data

    np.random.seed(seed)
    train, valid = generate_data("aliccp-raw", rows, set_sizes=(1 - valid_share, valid_share))
    return _conform(train.to_ddf().compute()), _conform(valid.to_ddf().compute())


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
    train, valid = _split(_conform(frame), rng, valid_share)
    truth = ClickTruth(
        user_ids=users["user_id"].to_numpy(),
        item_ids=items["item_id"].to_numpy(),
        user_vecs=1.8 * user_vecs,
        item_vecs=item_vecs,
        user_bias=np.zeros(len(users)),
        item_bias=items["quality"].to_numpy() - 2.2,
    )
    return SyntheticData(train, valid, truth)


def _merlin(rows: int, seed: int, valid_share: float) -> SyntheticData:
    train, valid = generate_merlin(rows, seed, valid_share)
    return SyntheticData(train, valid, None)


def _longtail(rows: int, seed: int, valid_share: float) -> SyntheticData:
    from training import synthetic_longtail

    return synthetic_longtail.generate(rows, seed, valid_share)


def _ratings(rows: int, seed: int, valid_share: float) -> SyntheticData:
    from training import synthetic_ratings

    return synthetic_ratings.generate(rows, seed, valid_share)


def _sparse_ids(rng: np.random.Generator, count: int) -> npt.NDArray[np.int64]:
    """Distinct, sorted, non-contiguous ids starting at FIRST_SPARSE_ID."""
    gaps = rng.integers(1, 1000, count)
    gaps[0] = 0
    ids: npt.NDArray[np.int64] = FIRST_SPARSE_ID + np.cumsum(gaps)
    return ids


@dataclass(frozen=True)
class UserDraw:
    """The cardinalities of a synthetic user table (both generators draw in the same order)."""

    groups: int
    ages: int
    geographies: int
    profile_of: str
    """user_profile = (this column - 1) * profile_stride + user_age"""
    profile_stride: int
    shops: int
    intentions: int
    brands: int
    categories: int


PLANTED_USERS = UserDraw(13, 7, 5, "user_group", 7, 5000, 3000, 4000, 500)


def draw_users(rng: np.random.Generator, count: int, draw: UserDraw) -> pd.DataFrame:
    users = pd.DataFrame({"user_id": _sparse_ids(rng, count)})
    users["user_group"] = rng.integers(1, draw.groups, count)
    users["user_gender"] = rng.integers(1, 3, count)
    users["user_age"] = rng.integers(1, draw.ages, count)
    users["user_profile"] = (users[draw.profile_of] - 1) * draw.profile_stride + users["user_age"]
    users["user_consumption_2"] = rng.integers(1, 4, count)
    users["user_is_occupied"] = rng.integers(1, 3, count)
    users["user_geography"] = rng.integers(1, draw.geographies, count)
    for col, card in (
        ("user_shops", draw.shops),
        ("user_intentions", draw.intentions),
        ("user_brands", draw.brands),
        ("user_categories", draw.categories),
    ):
        users[col] = rng.integers(1, card, count)
    return users


def _planted_users(rng: np.random.Generator, count: int) -> pd.DataFrame:
    users = draw_users(rng, count, PLANTED_USERS)
    users["taste_key"] = users["user_group"] * 10 + users["user_age"]
    return users


def _planted_items(rng: np.random.Generator, count: int, categories: int) -> pd.DataFrame:
    items = pd.DataFrame({"item_id": _sparse_ids(rng, count)})
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


def _conform(frame: pd.DataFrame) -> pd.DataFrame:
    """Exactly the raw schema's columns, order and dtypes."""
    return frame[list(RAW_COLUMNS)].astype(RAW_COLUMNS).reset_index(drop=True)


def _split(
    frame: pd.DataFrame, rng: np.random.Generator, valid_share: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    is_valid = rng.random(len(frame)) < valid_share
    return frame[~is_valid].reset_index(drop=True), frame[is_valid].reset_index(drop=True)


GENERATORS: dict[str, Callable[[int, int, float], SyntheticData]] = {
    "planted": planted,
    "longtail": _longtail,
    "ratings": _ratings,
    "merlin": _merlin,
}
