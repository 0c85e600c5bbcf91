"""Exact evaluation metrics (Keras' streaming AUC misreads narrow score bands)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata


def auc(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties averaged."""
    labels = np.asarray(labels).astype(bool)
    positives, negatives = labels.sum(), (~labels).sum()
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def logloss(labels: npt.ArrayLike, probabilities: npt.ArrayLike, eps: float = 1e-7) -> float:
    p = np.clip(np.asarray(probabilities, dtype=np.float64), eps, 1 - eps)
    y = np.asarray(labels, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def ranks_of_targets(
    scores: npt.NDArray[np.floating[Any]], targets: npt.NDArray[np.integer[Any]]
) -> npt.NDArray[np.intp]:
    """0-based rank of each row's target column among all columns (higher score ranks first)."""
    target_scores = scores[np.arange(len(targets)), targets]
    ranks: npt.NDArray[np.intp] = (scores > target_scores[:, None]).sum(axis=1)
    return ranks


def recall_at(ranks: npt.NDArray[np.intp], k: int) -> float:
    return float(np.mean(ranks < k))


def ndcg_at(ranks: npt.NDArray[np.intp], k: int) -> float:
    """NDCG@k with one relevant item per row: 1/log2(rank+2) when it is in the top k."""
    gains = np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)
    return float(np.mean(gains))
