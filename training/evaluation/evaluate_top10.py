"""The list a user gets, measured: the served top-10 replayed in process, beside baselines.

For each valid user, with their train rows as history, the serving graph's own functions make
the answer: the candidates (`candidate_lists.candidate_lists`: the tower's list and the second
source merged, without what the filter removes), each candidate's score parts (the DLRM, the tower,
the item-item model, popularity) and the final order (`services.ensemble.final_score`). Its
recall@10, NDCG@10 and hit@10 on the user's valid clicks they had not clicked in train stand
beside the same measures of simple lists under the same filter: the most clicked items, the
segment's popular items, the co-clicked items, the Two-Tower alone, the same candidates in the
DLRM's order (what serving answered before the build chose its order) and EASE, the dense
item-item model on train clicks (over the `ItemItemConfig.max_items` most clicked items).
No ground truth is needed: it works for any data in the raw schema.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from services.ensemble.candidates import IdArray, coclick_candidates, merge_candidates
from services.ensemble.final_score import (
    ItemLookup,
    OrderSettings,
    ScoreWeights,
    final_scores,
    inner_products,
    logit,
    reciprocal_ranks,
)
from training.build import itemitem, popular
from training.build.batches import input_columns
from training.evaluation import candidate_lists, propensity, user_clicks
from training.evaluation.top10_metrics import K_ANSWER, debiased_metrics, list_metrics

MAX_USERS = 1000
"""Users measured (a seeded sample beyond it): the DLRM scores K candidates for each. The
choices compare options on the same users (paired), so their differences are steadier than
each value."""


@dataclass(frozen=True)
class ScoredCandidates:
    """Per user (rows of `lists`), the merged candidates' score parts [n, K] and which
    candidates can be ordered (-1 padding and items without features cannot)."""

    lists: candidate_lists.CandidateLists
    parts: dict[str, npt.NDArray[np.float32]]
    valid: npt.NDArray[np.bool_]

    def top(self, weights: ScoreWeights, k: int = K_ANSWER) -> IdArray:
        """int32 [n, k]: each user's k best candidates by the final score, as OrderByScore
        orders them (highest first, stable)."""
        scores = final_scores(self.parts, weights, self.valid)
        best = np.argsort(-scores.astype(np.float64), axis=1, kind="stable")[:, :k]
        picked = np.take_along_axis(self.lists.merged, best, axis=1)
        return np.where(np.take_along_axis(self.valid, best, axis=1), picked, -1).astype(np.int32)

    def estimated_ctr(self, weights: ScoreWeights, k: int = K_ANSWER) -> float:
        """The mean DLRM click probability of the top k by `weights` (what the DLRM expects
        the list to get when shown)."""
        scores = final_scores(self.parts, weights, self.valid).astype(np.float64)
        best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        probability = 1.0 / (1.0 + np.exp(-self.parts["ranking"].astype(np.float64)))
        kept = np.take_along_axis(self.valid, best, axis=1)
        values = np.take_along_axis(probability, best, axis=1)[kept]
        return float(values.mean()) if values.size else 0.0


def score_candidates(
    inputs: candidate_lists.RetrievalInputs,
    lists: candidate_lists.CandidateLists,
    users: pd.DataFrame,
    items: pd.DataFrame,
    dlrm: Any,
    item_clicks: pd.Series,
) -> ScoredCandidates:
    """The parts of `lists.merged`: `users` are the encoded rows (one per row of the lists),
    `items` the encoded catalogue, `item_clicks` item id -> train clicks."""
    candidates = lists.merged
    catalogue = ItemLookup.of(inputs.item_ids)
    rows = catalogue.find(candidates)
    valid = rows >= 0
    probabilities = dlrm_probabilities(dlrm, users, items, candidates)
    clicks = item_clicks.reindex(candidates.reshape(-1)).fillna(0.0).to_numpy()
    parts = {
        "ranking": np.where(valid, logit(np.nan_to_num(probabilities, nan=0.5)), 0.0),
        "retrieval": inner_products(inputs.query_vectors, inputs.item_vectors, rows),
        "itemitem": (
            np.zeros(candidates.shape, np.float32)
            if inputs.itemitem_weights is None
            else inputs.itemitem_weights.scores(lists.itemitem_history, candidates)
        ),
        "popularity": np.log1p(clicks).reshape(candidates.shape).astype(np.float32),
        "segment": _segment_part(inputs, lists),
    }
    return ScoredCandidates(lists, parts, valid)


def _segment_part(
    inputs: candidate_lists.RetrievalInputs, lists: candidate_lists.CandidateLists
) -> npt.NDArray[np.float32]:
    """The segment part: each merged candidate's reciprocal rank in the user's segment list."""
    if inputs.segment_lists is None or inputs.segments is None:
        return np.zeros(lists.merged.shape, np.float32)
    keys = inputs.segments.reindex(lists.user_ids).fillna(-1).to_numpy(np.int64)
    return reciprocal_ranks(inputs.segment_lists.ranks_of(keys, lists.merged))


def dlrm_probabilities(
    dlrm: Any, users: pd.DataFrame, items: pd.DataFrame, candidates: IdArray
) -> npt.NDArray[np.float32]:
    """float [n, K]: the DLRM's click probability of each (user row, candidate) pair, NaN for
    -1 and for items outside `items` (the encoded catalogue, `item_id_raw` -> its columns)."""
    from training.build import ranking

    n, width = candidates.shape
    by_item = items.drop_duplicates("item_id_raw").set_index("item_id_raw")
    flat = candidates.reshape(-1)
    valid = np.isin(flat, by_item.index.to_numpy())
    item_rows = by_item.reindex(np.where(valid, flat, by_item.index[0])).reset_index(drop=True)
    user_rows = users.loc[users.index.repeat(width)].reset_index(drop=True)
    names = input_columns(dlrm)
    frame = pd.DataFrame(
        {c: (item_rows[c] if c.startswith("item_") else user_rows[c]).to_numpy() for c in names}
    )
    scores = ranking.predict(dlrm, frame) if len(frame) else np.zeros(0, np.float32)
    return np.where(valid, scores, np.nan).reshape(n, width)


def target_rows(
    inputs: candidate_lists.RetrievalInputs,
) -> tuple[npt.NDArray[np.int64], user_clicks.CatalogueIds]:
    """(row, item) of every target click new to its user."""
    return user_clicks.target_rows(inputs.user_ids, inputs.targets, inputs.history)


def scored_sample(
    inputs: candidate_lists.RetrievalInputs,
    lists: candidate_lists.CandidateLists,
    encoded: Mapping[str, pd.DataFrame],
    items: pd.DataFrame,
    dlrm: Any,
) -> tuple[candidate_lists.RetrievalInputs, ScoredCandidates]:
    """The valid users of `inputs` the table measures (at most MAX_USERS, a seeded sample) and
    their candidates' score parts (`lists`: their candidates, `candidate_lists.candidate_lists`)."""
    inputs, lists = sampled(inputs, lists, MAX_USERS)
    users = user_rows(encoded["valid"], inputs.user_ids)
    clicks = popular.item_clicks(encoded["train"])
    return inputs, score_candidates(inputs, lists, users, items, dlrm, clicks)


def table(
    inputs: candidate_lists.RetrievalInputs,
    scored: ScoredCandidates,
    ordering: OrderSettings,
    ease: tuple[IdArray, npt.NDArray[np.float32]] | None = None,
    exposure: propensity.Exposure | None = None,
    log: str = "consumption",
) -> dict[str, float | int | str]:
    """The served top-10 and its baselines on the users of `scored` (`scored_sample`); given
    the train rows' `exposure`, also debiased (`propensity`). `log`: the build's kind of log
    (`order_choice.FilterChoice.impression_log`), which decides what `warnings` compares."""
    lists = scored.lists
    rows, targets = target_rows(inputs)
    weights = (
        None
        if exposure is None
        else propensity.click_weights(exposure, inputs.user_ids, rows, targets)
    )
    answers = {
        "served": scored.top(ordering.weights),
        "dlrm_order": scored.top(ScoreWeights()),
        "two_tower": lists.tower,
        "most_clicked": lists.most_clicked,
        "segment_popular": lists.segment_popular,
        "coclick": _coclick_list(inputs, lists),
        "ease": ease_list(inputs.history, lists, ease),
    }
    out: dict[str, float | int | str] = {}
    for name, answer in answers.items():
        if answer is None:
            continue
        measures = list_metrics(answer, rows, targets)
        if weights is not None:
            measures.update(debiased_metrics(answer, rows, targets, weights))
        out.update({f"{name}_{measure}": value for measure, value in measures.items()})
    out["users"] = int(len(np.unique(rows)))
    out["filter"] = ordering.exclude
    out["log"] = log
    return out


def sampled(
    inputs: candidate_lists.RetrievalInputs, lists: candidate_lists.CandidateLists, max_users: int
) -> tuple[candidate_lists.RetrievalInputs, candidate_lists.CandidateLists]:
    """`inputs` and `lists` for a seeded sample of at most `max_users` of their users."""
    if len(inputs.user_ids) <= max_users:
        return inputs, lists
    keep = np.sort(np.random.default_rng(0).permutation(len(inputs.user_ids))[:max_users])
    inputs = replace(
        inputs, user_ids=inputs.user_ids[keep], query_vectors=inputs.query_vectors[keep]
    )
    return inputs, lists.of_rows(keep)


def user_rows(frame: pd.DataFrame, user_ids: user_clicks.CatalogueIds) -> pd.DataFrame:
    """The encoded row of each of `user_ids` (its last in `frame`), in that order."""
    last = frame.drop_duplicates("user_id_raw", keep="last").set_index("user_id_raw")
    return last.loc[user_ids].reset_index()


def _coclick_list(
    inputs: candidate_lists.RetrievalInputs, lists: candidate_lists.CandidateLists
) -> IdArray:
    """The co-clicked items alone, without what the filter removes."""
    width = K_ANSWER + max((len(h) for h in lists.excluded), default=0)
    ranked = coclick_candidates(inputs.coclick, lists.history, width)
    return merge_candidates(ranked, ranked[:, :0], lists.excluded, K_ANSWER)


def ease_list(
    history: pd.DataFrame,
    lists: candidate_lists.CandidateLists,
    weights: tuple[IdArray, npt.NDArray[np.float32]] | None = None,
) -> IdArray:
    """EASE's top-10 (dense weights on the `history` click pairs, `ItemItemConfig`'s
    defaults, unless given), without what the filter removes: the baseline a build's served
    list must beat."""
    if weights is None:
        pairs = history[["user_id", "item_id"]]
        weights = itemitem.weights(pairs, itemitem.ItemItemConfig())
    return dense_top(*weights, lists.history, lists.excluded)


def dense_top(
    ids: IdArray,
    b: npt.NDArray[np.float32],
    history: Sequence[user_clicks.CatalogueIds],
    excluded: Sequence[user_clicks.CatalogueIds],
    k: int = K_ANSWER,
) -> IdArray:
    """int32 [n, k]: per row, the k items of `ids` with the highest sum over the row's
    `history` of the weights `b` [m, m], none of the row's `excluded`; -1 when none is left."""
    lookup = ItemLookup.of(ids)
    scores = _rows_matrix(lookup, history, len(ids)) @ b
    scores[_rows_matrix(lookup, excluded, len(ids)).toarray() > 0] = -np.inf
    width = min(k, len(ids))
    best = np.argsort(-scores, axis=1, kind="stable")[:, :width]
    answer = np.where(np.isfinite(np.take_along_axis(scores, best, axis=1)), ids[best], -1)
    return answer.astype(np.int32)


def _rows_matrix(lookup: ItemLookup, rows: Sequence[user_clicks.CatalogueIds], width: int) -> Any:
    """A sparse [len(rows), width] matrix with a 1 at each row's known items."""
    from scipy import sparse

    found = [lookup.find(items) for items in rows]
    found = [f[f >= 0] for f in found]
    row_of = np.repeat(np.arange(len(found)), [len(f) for f in found])
    cols = np.concatenate(found) if found else np.zeros(0, np.int64)
    matrix = sparse.csr_matrix(
        (np.ones(len(cols), np.float32), (row_of, cols)), shape=(len(found), width)
    )
    matrix.data[:] = 1.0
    return matrix


BASELINES = ("most_clicked", "segment_popular", "coclick", "two_tower", "dlrm_order", "ease")


def warnings(values: Mapping[str, Any]) -> list[str]:
    """One line per baseline whose NDCG@10 or recall@10 is above the served list's: debiased
    in an impression log (where held-out clicks follow the old system's exposure), else raw."""
    lines = []
    debiased = values.get("log") == "impressions" and "served_debiased_ndcg_at_10" in values
    for measure in ("ndcg_at_10", "recall_at_10"):
        measure = f"debiased_{measure}" if debiased else measure
        served = values.get(f"served_{measure}")
        for name in BASELINES:
            other = values.get(f"{name}_{measure}")
            if served is not None and other is not None and served < other:
                lines.append(
                    f"warning: the served top-10's {measure} {served:.4f} is below "
                    f"{name} {other:.4f}"
                )
    return lines
