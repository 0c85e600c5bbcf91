"""The true click probability a synthetic generator used: known for every (user, item) pair.

Tests and the evaluation measure recommendations by it (the mean true click probability of a
top-10), which no model of the data can reach better than the generator itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClickTruth:
    """logit(p) = user_vec . item_vec + user_bias + item_bias, for catalogue ids.

    `user_ids` and `item_ids` are sorted; row i of `user_vecs` / `user_bias` belongs to
    `user_ids[i]` (items likewise).
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    user_vecs: np.ndarray
    item_vecs: np.ndarray
    user_bias: np.ndarray
    item_bias: np.ndarray

    def probability(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """p(click) for pairs; the arrays broadcast (e.g. users [n, 1] and items [n, k]).

        An id the generator never made gets probability 0 (e.g. a -1 padding).
        """
        users, items = np.broadcast_arrays(np.asarray(user_ids), np.asarray(item_ids))
        u_row, u_known = _rows(self.user_ids, users)
        i_row, i_known = _rows(self.item_ids, items)
        logit = (
            np.einsum("...d,...d->...", self.user_vecs[u_row], self.item_vecs[i_row])
            + self.user_bias[u_row]
            + self.item_bias[i_row]
        )
        return np.where(u_known & i_known, 1.0 / (1.0 + np.exp(-logit)), 0.0)


def _rows(sorted_ids: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = np.clip(np.searchsorted(sorted_ids, ids), 0, len(sorted_ids) - 1)
    return rows, sorted_ids[rows] == ids
