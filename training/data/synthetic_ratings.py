"""A consumption log in the raw schema (`--synthetic ratings`): what users chose, and liked.

The other two generators are impression logs (a system showed the items, users clicked some).
Here every row is an item the user chose, once: rating logs (films watched and rated), plays,
purchases. Each user picks their items without replacement, with probability growing with the
item's popularity and with how much their hidden taste matches the item's; a row is a click
when the user liked it (a rating of 4 or more out of 5), which depends on the same taste and
the item's quality. Users' choices are ordered as they made them, most wanted first, so a
user's later rows are what they chose next (the valid split is each user's last rows).

Taste is mostly hidden: the user features show a part of it (group), the item features show a
part of the item's profile (category). A recommender must learn which items go together from
the choices themselves, as on real rating data.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.data.generator_common import (
    PLANTED_USERS,
    SyntheticData,
    conform,
    draw_users,
    sparse_ids,
)
from training.data.truth import ClickTruth

LATENT_DIM = 8
CHOICE_TASTE = 2.5
"""How strongly taste drives which items a user chooses (popularity drives the rest)."""
LIKE_TASTE = 1.2
"""How strongly taste drives whether a chosen item is liked."""
LIKE_BIAS = -1.5
"""Sets how often a chosen item is liked: about half the rows are clicks."""
POPULARITY_SHAPE = 1.2
"""Pareto shape of the items' popularity (smaller: a longer tail)."""


def generate(rows: int, seed: int, valid_share: float) -> SyntheticData:
    rng = np.random.default_rng(seed)
    users_count, items_count = max(20, rows // 60), max(30, rows // 40)
    users = draw_users(rng, users_count, PLANTED_USERS)
    categories = int(np.clip(items_count // 40, 4, 40))
    items = _items(rng, items_count, categories)
    group_taste = rng.normal(0.0, 1.0, (PLANTED_USERS.groups, LATENT_DIM))
    user_vecs = 0.5 * group_taste[users["user_group"]] + rng.normal(
        0.0, 1.0, (users_count, LATENT_DIM)
    )
    user_vecs /= np.sqrt(LATENT_DIM)
    category_vecs = rng.normal(0.0, 1.0, (categories + 1, LATENT_DIM))
    item_vecs = 0.7 * category_vecs[items["item_category"]] + rng.normal(
        0.0, 0.7, (items_count, LATENT_DIM)
    )
    quality = rng.normal(0.0, 0.6, items_count)
    counts = _choices_per_user(rng, users_count, items_count, rows)
    user_pos, item_pos = _choose(rng, user_vecs, item_vecs, items["popularity"].to_numpy(), counts)
    logit = LIKE_TASTE * np.einsum("ij,ij->i", user_vecs[user_pos], item_vecs[item_pos])
    logit += quality[item_pos] + LIKE_BIAS
    click = rng.random(len(user_pos)) < 1.0 / (1.0 + np.exp(-logit))
    frame = _rows(rng, users, items, user_pos, item_pos, click)
    train, valid = _split_by_user(frame, valid_share)
    truth = ClickTruth(
        user_ids=users["user_id"].to_numpy(),
        item_ids=items["item_id"].to_numpy(),
        user_vecs=LIKE_TASTE * user_vecs,
        item_vecs=item_vecs,
        user_bias=np.zeros(users_count),
        item_bias=quality + LIKE_BIAS,
    )
    return SyntheticData(train, valid, truth)


def _items(rng: np.random.Generator, count: int, categories: int) -> pd.DataFrame:
    items = pd.DataFrame({"item_id": sparse_ids(rng, count)})
    items["item_category"] = 1 + rng.permutation(np.arange(count) % categories)
    items["item_brand"] = (items["item_category"] - 1) * 4 + rng.integers(1, 5, count)
    items["item_shop"] = rng.integers(1, max(2, count // 5), count)
    items["popularity"] = rng.pareto(POPULARITY_SHAPE, count) + 1.0
    return items


def _choices_per_user(
    rng: np.random.Generator, users: int, items: int, rows: int
) -> npt.NDArray[np.int64]:
    """How many items each user chose: lognormal activity, at least 5, at most half the
    catalogue, about `rows` in all."""
    weights = rng.lognormal(0.0, 0.7, users)
    counts = np.maximum(5, np.round(rows * weights / weights.sum())).astype(np.int64)
    capped: npt.NDArray[np.int64] = np.minimum(counts, items // 2)
    return capped


def _choose(
    rng: np.random.Generator,
    user_vecs: npt.NDArray[np.float64],
    item_vecs: npt.NDArray[np.float64],
    popularity: npt.NDArray[np.float64],
    counts: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Each user's items without replacement, most wanted first (Gumbel top-k of
    log popularity + CHOICE_TASTE * taste match)."""
    users, items = [], []
    log_popularity = np.log(popularity)
    for user, count in enumerate(counts):
        want = log_popularity + CHOICE_TASTE * (item_vecs @ user_vecs[user])
        keys = want + rng.gumbel(size=len(want))
        chosen = np.argsort(-keys)[:count]
        users.append(np.full(count, user))
        items.append(chosen)
    return np.concatenate(users), np.concatenate(items)


def _rows(
    rng: np.random.Generator,
    users: pd.DataFrame,
    items: pd.DataFrame,
    user_pos: npt.NDArray[np.int64],
    item_pos: npt.NDArray[np.int64],
    click: npt.NDArray[np.bool_],
) -> pd.DataFrame:
    frame = pd.concat(
        [
            users.iloc[user_pos].reset_index(drop=True),
            items.drop(columns=["popularity"]).iloc[item_pos].reset_index(drop=True),
        ],
        axis=1,
    )
    count = len(frame)
    frame["user_consumption_1"] = frame["user_consumption_2"]
    frame["item_intention"] = frame["item_category"]
    for col in ("user_item_categories", "user_item_shops", "user_item_brands"):
        frame[col] = rng.integers(1, 1000, count)
    frame["user_item_intentions"] = rng.integers(1, 1000, count)
    frame["position"] = 0
    frame["click"] = click.astype("int64")
    frame["conversion"] = 0
    return conform(frame)


def _split_by_user(frame: pd.DataFrame, valid_share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's last `valid_share` of rows (in the order they chose) are valid."""
    rank = frame.groupby("user_id").cumcount().to_numpy()
    count = frame.groupby("user_id")["user_id"].transform("size").to_numpy()
    is_valid = rank >= np.ceil((1.0 - valid_share) * count)
    return frame[~is_valid].reset_index(drop=True), frame[is_valid].reset_index(drop=True)
