"""The top-10's TRUE click probability: for synthetic builds, whose generator knows it.

The served top 10 (the build's final order of the merged candidates) and the DLRM's top 10 of
the same candidates, beside the most clicked and random items the user had not clicked in
train, and the best possible 10
(`python -m training evaluate` on a synthetic build; tests/integration/test_quality.py).
"""

from __future__ import annotations

import numpy as np

from services.ensemble.candidates import IdArray
from services.ensemble.final_score import ScoreWeights
from training.data.truth import ClickTruth
from training.evaluation.evaluate_top10 import ScoredCandidates
from training.evaluation.user_clicks import CatalogueIds


def top10_quality(
    truth: ClickTruth,
    scored: ScoredCandidates,
    weights: ScoreWeights,
    catalogue: CatalogueIds,
    k: int = 10,
) -> dict[str, float | int]:
    """Mean TRUE click probability (the generator's) of k items per user of `scored` (the
    users the top-10 table measures), none of them clicked in train: the served top k (the
    build's final order of the merged candidates), the DLRM's top k of the same candidates,
    the most clicked ones, random ones, and the best possible k (`catalogue`: every item id)."""
    lists = scored.lists
    user_ids = lists.user_ids
    served, by_dlrm = scored.top(weights, k), scored.top(ScoreWeights(), k)
    best, unseen_sum, unseen_count = [], 0.0, 0
    for start in range(0, len(user_ids), USERS_AT_ONCE):
        part = slice(start, start + USERS_AT_ONCE)
        every = truth.grid(user_ids[part], catalogue)
        for row, past in enumerate(lists.history[part]):
            every[row, np.isin(catalogue, past)] = np.nan
        width = min(k, every.shape[1])
        best.append(-np.sort(-np.nan_to_num(every, nan=-1.0), axis=1)[:, :width])
        unseen_sum += float(np.nansum(every))
        unseen_count += int(np.count_nonzero(~np.isnan(every)))
    return {
        "models_top10": _mean_truth(truth, user_ids, served),
        "dlrm_order_top10": _mean_truth(truth, user_ids, by_dlrm),
        "most_clicked_top10": _mean_truth(truth, user_ids, lists.most_clicked[:, :k]),
        "random_items": unseen_sum / unseen_count if unseen_count else float("nan"),
        "best_top10": float(np.concatenate(best).mean()) if best else float("nan"),
        "users": int(len(user_ids)),
    }


USERS_AT_ONCE = 100
"""Users whose probabilities over the whole catalogue are held at once (100k items: 80 MB)."""


def _mean_truth(truth: ClickTruth, user_ids: CatalogueIds, chosen: IdArray) -> float:
    probabilities = truth.probability(user_ids[:, None], chosen)
    return float(probabilities[chosen >= 0].mean())
