"""The evaluation table of a build: each model beside simple baselines on the same valid split.

Ranking: exact AUC of DLRM, of each item's train CTR, of each item's train clicks ("most
clicked") and of random scores. Retrieval: recall@100 of each valid click the user had not
clicked in train, among 100 candidates that exclude the user's train clicks (as the serving
filter does): the Two-Tower alone, the second source alone (its lists in the build's order),
the two merged by `services.ensemble.candidates.merge_candidates` (what serving does), the most
clicked items, the popular items among users of the same segment (`segments.table`), and
random items. A warning line names every model below its baseline.
The top-10's true click probability, for synthetic builds: `training.evaluation.evaluate_truth`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from services.ensemble.candidates import IdArray
from services.ensemble.final_score import DenseItemItem, OrderSettings
from training.build import segments
from training.data.schema import TARGET
from training.data.truth import ClickTruth
from training.evaluation import metrics, propensity, user_clicks
from training.evaluation.candidate_lists import (
    CandidateLists,
    K,
    MergeSettings,
    RetrievalInputs,
    candidate_lists,
)
from training.evaluation.user_clicks import CatalogueIds, click_pairs, shown_pairs, target_rows


def ranking_table(
    train: pd.DataFrame, valid: pd.DataFrame, scores: npt.NDArray[np.float32]
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


def retrieval_table(
    inputs: RetrievalInputs, k: int = K, lists: CandidateLists | None = None
) -> dict[str, float | int]:
    """Each source's recall@K (`lists`: the sources' lists of `inputs`, if made already)."""
    lists = lists or candidate_lists(inputs, k)
    rows, items = target_rows(inputs.user_ids, inputs.targets, inputs.history)
    seen = np.array([len(h) for h in lists.excluded])[rows]
    unseen = np.maximum(len(inputs.item_ids) - seen, 1)

    def recall(candidates: IdArray) -> float:
        return user_clicks.recall(candidates, rows, items)

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
        "tower_share": inputs.merge.tower_share,
        "valid_clicks": int(len(rows)),
    }


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


def warnings(table: dict[str, dict[str, Any]]) -> list[str]:
    """One line per model measure below one of its baselines (the served top-10's:
    `evaluate_top10.warnings`)."""
    from training.evaluation import evaluate_top10

    values = {key: value for part in table.values() for key, value in part.items()}
    return [
        f"warning: {model} {values[model]:.4f} is below {baseline} {values[baseline]:.4f}"
        for model, baselines in BASELINES.items()
        if model in values
        for baseline in baselines
        if baseline in values and values[model] < values[baseline]
    ] + evaluate_top10.warnings(table.get("top10", {}))


def format_table(table: dict[str, dict[str, Any]]) -> str:
    lines = []
    for part, values in table.items():
        lines.append(f"{part}:")
        lines.extend(
            f"  {name:<30} {value:.4f}" if isinstance(value, float) else f"  {name:<30} {value}"
            for name, value in values.items()
        )
    return "\n".join([*lines, *warnings(table)])


@dataclass(frozen=True)
class Sources:
    """The build's lists behind the candidates and the final order (as written to its folder),
    and how it merges, filters and orders them."""

    popular_ids: CatalogueIds
    coclick: pd.DataFrame
    segment_popular: pd.DataFrame
    merge: MergeSettings = field(default_factory=MergeSettings)
    itemitem: pd.DataFrame | None = None
    """The item-item weights (training/build/itemitem.py); None: builds before them."""
    ordering: OrderSettings = field(default_factory=OrderSettings)
    itemitem_weights: tuple[IdArray, npt.NDArray[np.float32]] | None = None
    """The dense weights (item ids, B) the final score's item-item part reads."""
    impression_log: bool = False
    """What the build took its log for (`order_choice.FilterChoice.impression_log`)."""


def build_table(
    encoded: dict[str, pd.DataFrame],
    query_tower: Any,
    items: pd.DataFrame,
    item_vectors: npt.NDArray[np.float32],
    dlrm: Any,
    sources: Sources,
    ease: tuple[IdArray, npt.NDArray[np.float32]] | None = None,
    truth: ClickTruth | None = None,
) -> dict[str, dict[str, Any]]:
    """The whole table from the encoded `train` and `valid` frames, the trained (or reloaded)
    query tower and DLRM, the encoded catalogue `items` with their vectors and the build's
    `sources`: ranking AUC, candidates' recall@100, the served top-10 beside its baselines
    (`ease`: EASE's dense weights on the train clicks, if made already) and, given the
    generator's `truth`, the top-10's true click probability on the same users."""
    from training.build import ranking
    from training.evaluation import evaluate_top10, evaluate_truth

    train, valid = encoded["train"], encoded["valid"]
    scores = ranking.predict(dlrm, valid)
    inputs = retrieval_inputs(encoded, query_tower, items, item_vectors, sources, MAX_USERS)
    lists = candidate_lists(inputs)
    measured, scored = evaluate_top10.scored_sample(inputs, lists, encoded, items, dlrm)
    table: dict[str, dict[str, Any]] = {
        "ranking": ranking_table(_raw_items(train), _raw_items(valid), scores),
        "retrieval": retrieval_table(inputs, lists=lists),
        "top10": evaluate_top10.table(
            measured,
            scored,
            sources.ordering,
            ease,
            propensity.Exposure.of(train),
            "impressions" if sources.impression_log else "consumption",
        ),
    }
    if truth is not None:
        catalogue = items["item_id_raw"].to_numpy()
        table["true_click_probability"] = evaluate_truth.top10_quality(
            truth, scored, sources.ordering.weights, catalogue
        )
    return table


MAX_USERS = 10_000
"""The candidates' table reads a seeded sample of at most this many valid users (the served
top-10's, 1,000 of them: `evaluate_top10.MAX_USERS`). Each user's list is a pass over the whole
catalogue, so over every user the table grew with users x items: 86 s of a 1M-row build
(50k users, 100k items) against 3-4 s at 100k rows. With 10,000 users a recall@100's standard
error stays under 0.005; builds with fewer valid users read them all, as before."""


def retrieval_inputs(
    encoded: dict[str, pd.DataFrame],
    query_tower: Any,
    items: pd.DataFrame,
    item_vectors: npt.NDArray[np.float32],
    sources: Sources,
    max_users: int | None = None,
) -> RetrievalInputs:
    """The users of `encoded["valid"]` (at most `max_users`, a seeded sample), their history
    from `encoded["train"]` and their new clicks in valid as targets."""
    from training.build import coclick, itemitem, retrieval

    users = encoded["valid"].drop_duplicates("user_id_raw").reset_index(drop=True)
    if max_users is not None and len(users) > max_users:
        picked = np.sort(np.random.default_rng(0).permutation(len(users))[:max_users])
        users = users.iloc[picked].reset_index(drop=True)
    return RetrievalInputs(
        user_ids=users["user_id_raw"].to_numpy(),
        query_vectors=retrieval.embed(query_tower, users),
        item_ids=items["item_id_raw"].to_numpy(),
        item_vectors=item_vectors,
        history=click_pairs(encoded["train"]),
        targets=click_pairs(encoded["valid"]),
        popular_ids=np.asarray(sources.popular_ids),
        coclick=coclick.as_table(sources.coclick),
        segment_lists=segments.as_lists(sources.segment_popular),
        segments=user_segments(encoded, sources.merge.segment_columns),
        merge=sources.merge,
        shown=shown_pairs(encoded["train"]),
        itemitem=None if sources.itemitem is None else itemitem.as_table(sources.itemitem),
        ordering=sources.ordering,
        itemitem_weights=(
            None
            if sources.itemitem_weights is None
            else DenseItemItem.of(*sources.itemitem_weights)
        ),
    )


def user_segments(encoded: dict[str, pd.DataFrame], columns: tuple[str, ...]) -> pd.Series:
    """user id -> its segment key by `columns`, from the encoded train and valid rows (the
    last row's)."""
    rows = pd.concat([frame[["user_id_raw", *columns]] for frame in encoded.values()])
    rows = rows.drop_duplicates("user_id_raw", keep="last")
    return pd.Series(segments.keys(rows, columns), index=rows["user_id_raw"].to_numpy())


def _raw_items(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"item_id": frame["item_id_raw"].to_numpy(), TARGET: frame[TARGET]})
