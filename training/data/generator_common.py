"""What the synthetic generators share: their result (`SyntheticData`), the sparse ids, the user
table's draw, and the raw schema's conform and random split. No generator imports another."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.data.exposure import Exposure
from training.data.schema import RAW_COLUMNS
from training.data.truth import ClickTruth

FIRST_SPARSE_ID = 1_000_003


@dataclass(frozen=True)
class SyntheticData:
    train: pd.DataFrame
    valid: pd.DataFrame
    truth: ClickTruth | None
    """None for a generator without signal."""
    exposure: Exposure | None = None
    """How impressions were chosen (`exposure.Exposure`); None where they were
    drawn independently of the user."""
    visible_user_vecs: npt.NDArray[np.float64] | None = None
    """The part of `truth.user_vecs` the user features show (rows as `truth.user_ids`); None
    where the generator does not split taste so."""


def sparse_ids(rng: np.random.Generator, count: int) -> npt.NDArray[np.int64]:
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
    users = pd.DataFrame({"user_id": sparse_ids(rng, count)})
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


def conform(frame: pd.DataFrame) -> pd.DataFrame:
    """Exactly the raw schema's columns, order and dtypes."""
    return frame[list(RAW_COLUMNS)].astype(RAW_COLUMNS).reset_index(drop=True)


def split(
    frame: pd.DataFrame, rng: np.random.Generator, valid_share: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    is_valid = rng.random(len(frame)) < valid_share
    return frame[~is_valid].reset_index(drop=True), frame[is_valid].reset_index(drop=True)
