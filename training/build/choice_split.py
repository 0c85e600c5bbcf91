"""Train rows held out of every model: the build makes its choices on their clicks.

Each user's last rows are held out, `HELD_SHARE` of them (rounded at random, seeded, so the
share holds over users with few rows): the rows of a user are taken to be in time order, as
logs are written, so the choices are made on what each user did next, as the valid split
(and the future) is. Rows in no particular order make this a random holdout.

The Two-Tower, the DLRM and the lists behind the candidates learn from `fit`; `held`'s clicks
on items new to their users choose how the candidates are merged (training/build/merge_choice.py)
and how the answer is filtered and ordered (training/build/order_choice.py), and its rows choose the
DLRM's epoch. The valid split is never looked at: it is what the build reports on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

HELD_SHARE = 0.1
SEED = 3


@dataclass(frozen=True)
class ChoiceSplit:
    fit: pd.DataFrame
    """The encoded train rows the models and lists learn from."""
    held: pd.DataFrame
    """The encoded train rows held out (impressions, clicked or not)."""

    def users_with_new_clicks(self, max_users: int) -> npt.NDArray[np.integer[Any]]:
        """The held-out users with a click on an item they had not clicked in `fit` (a seeded
        sample of at most `max_users`), sorted."""
        from training.evaluation import user_clicks

        targets = user_clicks.new_targets(
            user_clicks.click_pairs(self.held), user_clicks.click_pairs(self.fit)
        )
        users: npt.NDArray[np.integer[Any]] = np.unique(targets["user_id"].to_numpy())
        if len(users) > max_users:
            users = np.sort(np.random.default_rng(0).permutation(users)[:max_users])
        return users


def split(train: pd.DataFrame, share: float = HELD_SHARE, seed: int = SEED) -> ChoiceSplit:
    """Each user's last rows held out (with too few rows to hold any, both are all rows)."""
    users = train["user_id_raw"].to_numpy()
    _, user, count = np.unique(users, return_inverse=True, return_counts=True)
    rank = pd.Series(np.arange(len(users))).groupby(user).cumcount().to_numpy()
    rng = np.random.default_rng(seed)
    held_count = np.floor(share * count + rng.random(len(count))).astype(np.int64)
    held = rank >= (count - held_count)[user]
    if held.all() or not held.any():
        return ChoiceSplit(train, train)
    return ChoiceSplit(train[~held].reset_index(drop=True), train[held].reset_index(drop=True))
