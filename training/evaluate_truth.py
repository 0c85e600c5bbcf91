"""The top-10's TRUE click probability: for synthetic builds, whose generator knows it.

DLRM's top 10 of the merged candidates (what serving answers) beside the most clicked and
random items the user had not clicked in train, and the best possible 10
(`python -m training evaluate` on a synthetic build; tests/integration/test_quality.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from training.batches import input_columns
from training.evaluate import CandidateLists
from training.truth import ClickTruth


def top_k_by_model(
    dlrm: Any,
    users: pd.DataFrame,
    items: pd.DataFrame,
    candidates: np.ndarray,
    k: int = 10,
) -> np.ndarray:
    """int32 [n, k]: each user's k candidates with the highest DLRM score, as serving orders.

    `users` are encoded rows (one per row of `candidates`), `items` the encoded catalogue
    (`item_id_raw` -> its encoded columns); -1 candidates stay last."""
    from training import ranking

    n, width = candidates.shape
    by_item = items.set_index("item_id_raw")
    flat = candidates.reshape(-1)
    valid = flat >= 0
    item_rows = by_item.reindex(np.where(valid, flat, by_item.index[0])).reset_index(drop=True)
    user_rows = users.loc[users.index.repeat(width)].reset_index(drop=True)
    names = input_columns(dlrm)
    frame = pd.DataFrame(
        {c: (item_rows[c] if c.startswith("item_") else user_rows[c]).to_numpy() for c in names}
    )
    scores = np.where(valid, ranking.predict(dlrm, frame), -np.inf).reshape(n, width)
    best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(candidates, best, axis=1).astype(np.int32)


def top10_quality(
    truth: ClickTruth,
    dlrm: Any,
    encoded: dict[str, pd.DataFrame],
    items: pd.DataFrame,
    lists: CandidateLists,
    k: int = 10,
    max_users: int = 1000,
) -> dict[str, float | int]:
    """Mean TRUE click probability (the generator's) of k items per valid user, none of them
    clicked in train: DLRM's top k of the merged candidates (what serving answers), the most
    clicked ones, random ones, and the best possible k."""
    rng = np.random.default_rng(0)
    rows = np.sort(rng.permutation(len(lists.user_ids))[:max_users])
    user_ids = lists.user_ids[rows]
    users = encoded["valid"].drop_duplicates("user_id_raw").set_index("user_id_raw")
    user_rows = users.loc[user_ids].reset_index()
    chosen = top_k_by_model(dlrm, user_rows, items, lists.merged[rows], k)
    catalogue = np.asarray(items["item_id_raw"].to_numpy())
    every = truth.probability(user_ids[:, None], catalogue[None, :])
    for row, past in enumerate(lists.history[i] for i in rows):
        every[row, np.isin(catalogue, past)] = np.nan
    best = -np.sort(-np.nan_to_num(every, nan=-1.0), axis=1)[:, :k]
    return {
        "models_top10": _mean_truth(truth, user_ids, chosen),
        "most_clicked_top10": _mean_truth(truth, user_ids, lists.most_clicked[rows, :k]),
        "random_items": float(np.nanmean(every)),
        "best_top10": float(best.mean()),
        "users": int(len(rows)),
    }


def _mean_truth(truth: ClickTruth, user_ids: np.ndarray, chosen: np.ndarray) -> float:
    probabilities = truth.probability(user_ids[:, None], chosen)
    return float(probabilities[chosen >= 0].mean())
