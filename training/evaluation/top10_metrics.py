"""recall@10, NDCG@10 and hit@10 of top-10 lists on target clicks, raw or each click weighted
by 1 / P(shown) (`propensity`)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from services.ensemble.candidates import IdArray
from training.evaluation import user_clicks

K_ANSWER = 10


def list_metrics(
    lists: IdArray, rows: npt.NDArray[np.int64], items: user_clicks.CatalogueIds, k: int = K_ANSWER
) -> dict[str, float]:
    """recall@k (hits / min(targets, k)), NDCG@k (binary gains) and hit@k of the rows of
    `lists` that have targets: (row, item) pairs `rows`, `items`."""
    if len(rows) == 0:
        return {"recall_at_10": 0.0, "ndcg_at_10": 0.0, "hit_at_10": 0.0}
    position = _positions(lists, rows, items, k)
    hit = position < k
    _, user = np.unique(rows, return_inverse=True)
    targets = np.bincount(user)
    hits = np.bincount(user, weights=hit)
    gains = np.bincount(user, weights=np.where(hit, 1.0 / np.log2(position + 2.0), 0.0))
    ideal = np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))[np.minimum(targets, k) - 1]
    return {
        "recall_at_10": float((hits / np.minimum(targets, k)).mean()),
        "ndcg_at_10": float((gains / ideal).mean()),
        "hit_at_10": float((hits > 0).mean()),
    }


def debiased_metrics(
    lists: IdArray,
    rows: npt.NDArray[np.int64],
    items: user_clicks.CatalogueIds,
    weights: npt.NDArray[np.float64],
    k: int = K_ANSWER,
) -> dict[str, float]:
    """recall@k and NDCG@k over every target click at once, each click counted `weights` times
    (1 / P(shown): `propensity.click_weights`), as shares of the clicks' total weight."""
    if len(rows) == 0:
        return {"debiased_recall_at_10": 0.0, "debiased_ndcg_at_10": 0.0}
    position = _positions(lists, rows, items, k)
    total = float(weights.sum())
    return {
        "debiased_recall_at_10": float((weights * (position < k)).sum()) / total,
        "debiased_ndcg_at_10": float((weights * click_gains(lists, rows, items, k)).sum()) / total,
    }


def click_gains(
    lists: IdArray, rows: npt.NDArray[np.int64], items: user_clicks.CatalogueIds, k: int = K_ANSWER
) -> npt.NDArray[np.float64]:
    """Each target's discounted gain in its row's top k: 1 / log2(position + 2), 0 if absent."""
    position = _positions(lists, rows, items, k)
    gains: npt.NDArray[np.float64] = np.where(position < k, 1.0 / np.log2(position + 2.0), 0.0)
    return gains


def _positions(
    lists: IdArray, rows: npt.NDArray[np.int64], items: user_clicks.CatalogueIds, k: int
) -> npt.NDArray[np.int64]:
    """0-based position of each target in its row's top k; k where it is not there."""
    top = lists[:, :k]
    found = np.where(top[rows] == items[:, None], np.arange(top.shape[1]), k)
    positions: npt.NDArray[np.int64] = found.min(axis=1)
    return positions
