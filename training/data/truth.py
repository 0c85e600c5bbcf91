"""The true click probability a synthetic generator used: known for every (user, item) pair.

Tests and the evaluation measure recommendations by it (the mean true click probability of a
top-10), which no model of the data can reach better than the generator itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class ClickTruth:
    """logit(p) = user_vec . item_vec + user_bias + item_bias, for catalogue ids.

    `user_ids` and `item_ids` are sorted; row i of `user_vecs` / `user_bias` belongs to
    `user_ids[i]` (items likewise).
    """

    user_ids: npt.NDArray[np.int64]
    item_ids: npt.NDArray[np.int64]
    user_vecs: npt.NDArray[np.float64]
    item_vecs: npt.NDArray[np.float64]
    user_bias: npt.NDArray[np.float64]
    item_bias: npt.NDArray[np.float64]

    def probability(
        self, user_ids: npt.ArrayLike, item_ids: npt.ArrayLike
    ) -> npt.NDArray[np.float64]:
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

    def grid(self, user_ids: npt.ArrayLike, item_ids: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """[len(user_ids), len(item_ids)]: p(click) of every user with every item, as one
        matrix product (`probability` on broadcast ids gathers a vector per pair: 13 GB for
        1,000 users and 100k items)."""
        u_row, u_known = _rows(self.user_ids, np.asarray(user_ids).reshape(-1))
        i_row, i_known = _rows(self.item_ids, np.asarray(item_ids).reshape(-1))
        logit = (
            self.user_vecs[u_row] @ self.item_vecs[i_row].T
            + self.user_bias[u_row][:, None]
            + self.item_bias[i_row][None, :]
        )
        known = u_known[:, None] & i_known[None, :]
        return np.where(known, 1.0 / (1.0 + np.exp(-logit)), 0.0)


def _rows(
    sorted_ids: npt.NDArray[np.int64], ids: npt.NDArray[Any]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    rows = np.clip(np.searchsorted(sorted_ids, ids), 0, len(sorted_ids) - 1)
    return rows, sorted_ids[rows] == ids
