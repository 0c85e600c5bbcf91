"""The evaluation table of a build: each model beside simple baselines on the same valid split.

Ranking: exact AUC of DLRM, of each item's train CTR, of each item's train clicks ("most
clicked") and of random scores. Retrieval: recall@100 of each valid click the user had not
clicked in train, among 100 candidates that exclude the user's train clicks (as the serving
filter does): the Two-Tower alone, the second source alone (co-clicked, then most clicked
items), the two merged by `services.ensemble.candidates.merge_candidates` (what serving
does), the most clicked items, the most clicked among users of the same segment, and random
items. A warning line names every model below its baseline.
The top-10's true click probability, for synthetic builds: `training.evaluate_truth`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from services.ensemble.candidates import CoClickTable, merge_candidates, second_source
from training import metrics
from training.schema import TARGET

K = 100
TOWER_SHARE = 0.9
"""Share of the merged candidates' places given to the Two-Tower. Chosen on a 70/30 split of
train of both generators (50k rows): from 0.25 to 1.0 the merged recall@100 rose with the
tower's share on both (0.75: longtail 0.605, planted 0.330; 0.9: 0.611, 0.349; 1.0: 0.617,
0.361); 0.9 keeps a tenth of the places for the second source, the guard against a weak tower."""


def ranking_table(
    train: pd.DataFrame, valid: pd.DataFrame, scores: np.ndarray
) -> dict[str, float | int]:
    """AUC of the model's `scores` for `valid` beside baselines learned from `train`.

    Both frames have `item_id` (catalogue ids) and the target."""
    labels = valid[TARGET].to_numpy()
    per_item = train.groupby("item_id")[TARGET].agg(["mean", "sum"])
    item_ctr = valid["item_id"].map(per_item["mean"]).fillna(train[TARGET].mean())
    item_clicks = valid["item_id"].map(per_item["sum"]).fillna(0)
    random_scores = np.random.default_rng(0).random(len(valid))
    return {
        "dlrm_auc": metrics.auc(labels, scores),
        "dlrm_logloss": metrics.logloss(labels, scores),
        "item_ctr_auc": metrics.auc(labels, item_ctr.to_numpy()),
        "most_clicked_auc": metrics.auc(labels, item_clicks.to_numpy()),
        "random_auc": metrics.auc(labels, random_scores),
        "valid_rows": int(len(labels)),
    }


@dataclass(frozen=True)
class RetrievalInputs:
    """Everything the retrieval table needs, in catalogue ids.

    `user_ids` [n] with their `query_vectors` [n, d]; `item_ids` [m] with `item_vectors`;
    `history` the (user_id, item_id) train clicks; `targets` the valid clicks."""

    user_ids: np.ndarray
    query_vectors: np.ndarray
    item_ids: np.ndarray
    item_vectors: np.ndarray
    history: pd.DataFrame
    targets: pd.DataFrame
    popular_ids: np.ndarray
    coclick: CoClickTable
    segments: pd.Series | None = None
    """user id -> segment key (`SEGMENT_COLUMNS`), every train and valid user; None: no
    segment baseline."""


SEGMENT_COLUMNS = ("user_group", "user_age", "user_gender")
"""The user's visible segment: users alike in these (raw Ali-CCP fields) see and click alike
items, so "most clicked in my segment" is a baseline a personalized model must beat."""


@dataclass(frozen=True)
class CandidateLists:
    """Per user (rows of `user_ids`), each source's K candidates."""

    user_ids: np.ndarray
    history: list[np.ndarray]
    tower: np.ndarray
    second: np.ndarray
    merged: np.ndarray
    most_clicked: np.ndarray
    segment_popular: np.ndarray | None = None


def candidate_lists(
    inputs: RetrievalInputs, k: int = K, share: float = TOWER_SHARE
) -> CandidateLists:
    past = inputs.history.groupby("user_id")["item_id"].apply(lambda s: np.unique(s.to_numpy()))
    history = [past.get(int(u), np.zeros(0, np.int64)) for u in inputs.user_ids]
    tower_ranked = tower_top(inputs.query_vectors, inputs.item_vectors, inputs.item_ids, history, k)
    tower = merge_candidates(tower_ranked, tower_ranked[:, :0], history, k)
    second = second_source(inputs.coclick, inputs.popular_ids, history, k)
    popular = np.repeat(np.asarray(inputs.popular_ids, np.int32)[None, :], len(history), axis=0)
    widest = k + max((len(items) for items in history), default=0)  # k left after the filter
    return CandidateLists(
        user_ids=np.asarray(inputs.user_ids),
        history=history,
        tower=tower,
        second=second,
        merged=merge_candidates(tower_ranked, second, history, k, tower_share=share),
        most_clicked=merge_candidates(popular, popular[:, :0], history, k),
        segment_popular=(
            None
            if inputs.segments is None
            else merge_candidates(
                segment_popular(inputs.history, inputs.segments, inputs.user_ids, widest),
                popular,
                history,
                k,
                tower_share=1.0,
            )
        ),
    )


def segment_popular(
    history: pd.DataFrame, segments: pd.Series, user_ids: np.ndarray, width: int
) -> np.ndarray:
    """int32 [n, width]: per user of `user_ids`, the items most clicked in `history` by users
    of the same segment, most first (ties: smaller id first); -1 pads (the caller continues
    with the most clicked overall). The user's own clicks count too: the filter removes them."""
    clicks = history.assign(segment=segments.reindex(history["user_id"].to_numpy()).to_numpy())
    counts = clicks.groupby(["segment", "item_id"]).size().rename("clicks").reset_index()
    counts = counts.sort_values(["segment", "clicks", "item_id"], ascending=[True, False, True])
    best = {key: group["item_id"].to_numpy()[:width] for key, group in counts.groupby("segment")}
    out = np.full((len(user_ids), width), -1, dtype=np.int32)
    empty = np.zeros(0, dtype=np.int32)
    for row, key in enumerate(segments.reindex(user_ids).to_numpy()):
        items = best.get(key, empty)
        out[row, : len(items)] = items
    return out


def tower_top(
    queries: np.ndarray,
    item_vectors: np.ndarray,
    item_ids: np.ndarray,
    history: Sequence[np.ndarray],
    k: int,
    chunk: int = 1024,
) -> np.ndarray:
    """int32 [n, k + longest history]: each user's best items by inner product, best first
    (as the serving retrieval over-fetches so k remain after the filter)."""
    width = min(len(item_ids), k + max((len(h) for h in history), default=0))
    out = np.empty((len(queries), width), dtype=np.int32)
    for start in range(0, len(queries), chunk):
        scores = queries[start : start + chunk] @ item_vectors.T
        best = np.argpartition(-scores, width - 1, axis=1)[:, :width]
        order = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1, kind="stable")
        out[start : start + chunk] = item_ids[np.take_along_axis(best, order, axis=1)]
    return out


def retrieval_table(
    inputs: RetrievalInputs, k: int = K, share: float = TOWER_SHARE
) -> dict[str, float | int]:
    lists = candidate_lists(inputs, k, share)
    targets = _new_targets(inputs.targets, inputs.history)
    row_of_user = pd.Series(np.arange(len(lists.user_ids)), index=lists.user_ids)
    rows = row_of_user.reindex(targets["user_id"].to_numpy()).to_numpy()
    known = ~np.isnan(rows)
    rows, items = rows[known].astype(np.int64), targets["item_id"].to_numpy()[known]
    seen = np.array([len(h) for h in lists.history])[rows]
    unseen = np.maximum(len(inputs.item_ids) - seen, 1)

    def recall(candidates: np.ndarray) -> float:
        return float((candidates[rows] == items[:, None]).any(axis=1).mean()) if len(rows) else 0.0

    segment = (
        {}
        if lists.segment_popular is None
        else {"segment_popular_recall_at_100": recall(lists.segment_popular)}
    )
    return {
        "tower_recall_at_100": recall(lists.tower),
        "second_source_recall_at_100": recall(lists.second),
        "merged_recall_at_100": recall(lists.merged),
        "most_clicked_recall_at_100": recall(lists.most_clicked),
        **segment,
        "random_recall_at_100": float(np.minimum(1.0, k / unseen).mean()) if len(rows) else 0.0,
        "tower_share": share,
        "valid_clicks": int(len(rows)),
    }


def _new_targets(targets: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """The distinct valid (user, item) clicks the user had not clicked in train."""
    pairs = targets[["user_id", "item_id"]].drop_duplicates()
    had = pairs.merge(history[["user_id", "item_id"]].drop_duplicates(), how="left", indicator=True)
    return pairs[(had["_merge"] == "left_only").to_numpy()].reset_index(drop=True)


RETRIEVAL_BASELINES = (
    "most_clicked_recall_at_100",
    "segment_popular_recall_at_100",
    "random_recall_at_100",
)
BASELINES = {
    "dlrm_auc": ("item_ctr_auc", "most_clicked_auc", "random_auc"),
    "tower_recall_at_100": RETRIEVAL_BASELINES,
    "merged_recall_at_100": RETRIEVAL_BASELINES,
    "models_top10": ("most_clicked_top10", "random_items"),
}


def warnings(table: dict[str, dict[str, float | int]]) -> list[str]:
    """One line per model measure below one of its baselines."""
    values = {key: value for part in table.values() for key, value in part.items()}
    return [
        f"warning: {model} {values[model]:.4f} is below {baseline} {values[baseline]:.4f}"
        for model, baselines in BASELINES.items()
        if model in values
        for baseline in baselines
        if baseline in values and values[model] < values[baseline]
    ]


def format_table(table: dict[str, dict[str, float | int]]) -> str:
    lines = []
    for part, values in table.items():
        lines.append(f"{part}:")
        lines.extend(
            f"  {name:<30} {value:.4f}" if isinstance(value, float) else f"  {name:<30} {value}"
            for name, value in values.items()
        )
    return "\n".join([*lines, *warnings(table)])


def build_table(
    encoded: dict[str, pd.DataFrame],
    query_tower: Any,
    items: pd.DataFrame,
    item_vectors: np.ndarray,
    dlrm: Any,
    popular_ids: np.ndarray,
    coclicked: pd.DataFrame,
) -> dict[str, dict[str, float | int]]:
    """The whole table from the encoded `train` and `valid` frames, the trained (or reloaded)
    query tower and DLRM, the encoded catalogue `items` with their vectors, the most clicked
    ids and the co-click table (as written by the build)."""
    from training import ranking

    train, valid = encoded["train"], encoded["valid"]
    scores = ranking.predict(dlrm, valid)
    return {
        "ranking": ranking_table(_raw_items(train), _raw_items(valid), scores),
        "retrieval": retrieval_table(
            retrieval_inputs(encoded, query_tower, items, item_vectors, popular_ids, coclicked)
        ),
    }


def retrieval_inputs(
    encoded: dict[str, pd.DataFrame],
    query_tower: Any,
    items: pd.DataFrame,
    item_vectors: np.ndarray,
    popular_ids: np.ndarray,
    coclicked: pd.DataFrame,
) -> RetrievalInputs:
    from training import coclick, retrieval

    users = encoded["valid"].drop_duplicates("user_id_raw").reset_index(drop=True)
    return RetrievalInputs(
        user_ids=users["user_id_raw"].to_numpy(),
        query_vectors=retrieval.embed(query_tower, users),
        item_ids=items["item_id_raw"].to_numpy(),
        item_vectors=item_vectors,
        history=_click_pairs(encoded["train"]),
        targets=_click_pairs(encoded["valid"]),
        popular_ids=np.asarray(popular_ids),
        coclick=coclick.as_table(coclicked),
        segments=_segments(encoded),
    )


def _segments(encoded: dict[str, pd.DataFrame]) -> pd.Series:
    """user id -> its segment (`SEGMENT_COLUMNS` joined), from the encoded train and valid rows."""
    rows = pd.concat([frame[["user_id_raw", *SEGMENT_COLUMNS]] for frame in encoded.values()])
    rows = rows.drop_duplicates("user_id_raw", keep="last")
    keys = rows[list(SEGMENT_COLUMNS)].astype("int64").astype(str).agg("-".join, axis=1)
    return pd.Series(keys.to_numpy(), index=rows["user_id_raw"].to_numpy())


def _click_pairs(frame: pd.DataFrame) -> pd.DataFrame:
    clicks = frame.loc[frame[TARGET] == 1, ["user_id_raw", "item_id_raw"]]
    return clicks.rename(columns={"user_id_raw": "user_id", "item_id_raw": "item_id"})


def _raw_items(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"item_id": frame["item_id_raw"].to_numpy(), TARGET: frame[TARGET]})
