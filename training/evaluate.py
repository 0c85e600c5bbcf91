"""The evaluation table of a build: each model beside simple baselines on the same valid split.

Ranking: exact AUC of DLRM, of each item's train CTR, of each item's train clicks ("most
clicked") and of random scores. Retrieval: recall@100 of each valid click the user had not
clicked in train, among 100 candidates that exclude the user's train clicks (as the serving
filter does): the Two-Tower alone, the second source alone (its lists in the build's order),
the two merged by `services.ensemble.candidates.merge_candidates` (what serving does), the most
clicked items, the popular items among users of the same segment (`segments.table`), and
random items. A warning line names every model below its baseline.
The top-10's true click probability, for synthetic builds: `training.evaluate_truth`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import numpy.typing as npt
import pandas as pd

from services.ensemble.candidates import (
    DEFAULT_ORDER,
    IdArray,
    ItemItemInput,
    NeighbourTable,
    SegmentLists,
    check_order,
    merge_candidates,
    readable_width,
    second_source,
)
from services.ensemble.final_score import DenseItemItem, OrderSettings
from training import metrics, segments
from training.schema import TARGET

CatalogueIds = npt.NDArray[np.integer[Any]]
"""Catalogue (raw) user or item ids as the frames hold them: int32 in the raw schema, int64
where pandas made them (an index, a test's frame). The candidate lists are `IdArray` (int32)."""
K = 100
TOWER_SHARE = 0.9
"""Share of the merged candidates' places given to the Two-Tower in builds made before the
build chose it (training/merge_choice.py), and the default of `MergeSettings`."""


@dataclass(frozen=True)
class MergeSettings:
    """How the second source is made and merged with the tower's list (what serving does)."""

    tower_share: float = TOWER_SHARE
    order: tuple[str, ...] = DEFAULT_ORDER
    """The second source's lists, one after the other (`candidates.SOURCE_LISTS` names)."""
    segment_columns: tuple[str, ...] = segments.SEGMENT_COLUMNS
    """The user columns whose values make a user's segment (the segment lists' keys)."""

    @classmethod
    def from_manifest(cls, document: dict[str, Any]) -> MergeSettings:
        settings = document.get("candidates", {})
        return cls(
            tower_share=float(settings.get("tower_share", TOWER_SHARE)),
            order=check_order(settings.get("second_source", DEFAULT_ORDER)),
            segment_columns=tuple(settings.get("segment_columns", segments.SEGMENT_COLUMNS)),
        )


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


@dataclass(frozen=True)
class RetrievalInputs:
    """Everything the retrieval table needs, in catalogue ids.

    `user_ids` [n] with their `query_vectors` [n, d]; `item_ids` [m] with `item_vectors`;
    `history` the (user_id, item_id) train clicks; `targets` the valid clicks."""

    user_ids: CatalogueIds
    query_vectors: npt.NDArray[np.float32]
    item_ids: CatalogueIds
    item_vectors: npt.NDArray[np.float32]
    history: pd.DataFrame
    targets: pd.DataFrame
    popular_ids: CatalogueIds
    coclick: NeighbourTable
    segment_lists: SegmentLists | None = None
    """The build's most clicked items per segment (training/segments.py); None: no segment
    baseline."""
    segments: pd.Series | None = None
    """user id -> segment key (`segments.keys`), every train and valid user."""
    merge: MergeSettings = field(default_factory=MergeSettings)
    shown: pd.DataFrame | None = None
    """(user_id, item_id) of every item shown in the history rows, clicked or not: what the
    filter removes and the item-item model reads when `ordering` says so (None: clicks only)."""
    itemitem: NeighbourTable | None = None
    """The build's item-item weights (training/itemitem.py); None: no item-item list."""
    ordering: OrderSettings = field(default_factory=OrderSettings)
    itemitem_weights: DenseItemItem | None = None
    """The dense item-item weights the final score reads; None: the part is 0."""


@dataclass(frozen=True)
class CandidateLists:
    """Per user (rows of `user_ids`), each source's K candidates."""

    user_ids: CatalogueIds
    history: list[CatalogueIds]
    excluded: list[CatalogueIds]
    """What the filter removes per user: their clicks, or every item shown to them."""
    itemitem_history: list[CatalogueIds]
    tower: IdArray
    second: IdArray
    merged: IdArray
    most_clicked: IdArray
    segment_popular: IdArray | None = None

    def of_rows(self, rows: npt.NDArray[np.intp]) -> CandidateLists:
        """The lists of the users at `rows` only."""
        return CandidateLists(
            user_ids=self.user_ids[rows],
            history=[self.history[i] for i in rows],
            excluded=[self.excluded[i] for i in rows],
            itemitem_history=[self.itemitem_history[i] for i in rows],
            tower=self.tower[rows],
            second=self.second[rows],
            merged=self.merged[rows],
            most_clicked=self.most_clicked[rows],
            segment_popular=None if self.segment_popular is None else self.segment_popular[rows],
        )


def candidate_lists(inputs: RetrievalInputs, k: int = K) -> CandidateLists:
    shared = _shared_lists(inputs, k)
    excluded, tower_ranked, segment_rows = shared.excluded, shared.tower_ranked, shared.segment_rows
    popular = np.repeat(np.asarray(inputs.popular_ids, np.int32)[None, :], len(excluded), axis=0)
    second = _second_source(inputs, shared, inputs.merge, k)
    return CandidateLists(
        user_ids=np.asarray(inputs.user_ids),
        history=shared.history,
        excluded=excluded,
        itemitem_history=shared.itemitem_history,
        tower=merge_candidates(tower_ranked, tower_ranked[:, :0], excluded, k),
        second=second,
        merged=merge_candidates(tower_ranked, second, excluded, k, inputs.merge.tower_share),
        most_clicked=merge_candidates(popular, popular[:, :0], excluded, k),
        segment_popular=_segment_list(inputs.popular_ids, excluded, segment_rows, k),
    )


def segment_recall(
    history: pd.DataFrame,
    targets: pd.DataFrame,
    popular_ids: CatalogueIds,
    lists: SegmentLists,
    user_segments: pd.Series,
    k: int = K,
    max_users: int | None = None,
) -> float:
    """Recall@K of the segment's list alone (no tower) for the `targets` clicks of
    items their users had not clicked in `history` (both: user_id, item_id); `user_segments`:
    user id -> segment key; `max_users`: a seeded sample of the target users at most."""
    user_ids = np.unique(targets["user_id"].to_numpy())
    if max_users is not None and len(user_ids) > max_users:
        user_ids = np.sort(np.random.default_rng(0).permutation(user_ids)[:max_users])
    past = histories(history, user_ids)
    keys = user_segments.reindex(user_ids).fillna(-1).to_numpy(np.int64)
    segment_rows = lists.rows(keys, _alone_width(past, k))
    ranked = _segment_list(popular_ids, past, segment_rows, k)
    return _recall(ranked, *target_rows(user_ids, targets, history))


@overload
def _segment_list(
    popular_ids: CatalogueIds, history: list[CatalogueIds], segment_rows: IdArray, k: int
) -> IdArray: ...


@overload
def _segment_list(
    popular_ids: CatalogueIds, history: list[CatalogueIds], segment_rows: IdArray | None, k: int
) -> IdArray | None: ...


def _segment_list(
    popular_ids: CatalogueIds, history: list[CatalogueIds], segment_rows: IdArray | None, k: int
) -> IdArray | None:
    """Per user, K of their segment's list's items they had not had, then the most
    clicked."""
    if segment_rows is None:
        return None
    width = _alone_width(history, k)
    readable = np.asarray(popular_ids, np.int32)[:width]
    popular = np.repeat(readable[None, :], len(history), axis=0)
    return merge_candidates(segment_rows[:, :width], popular, history, k, tower_share=1.0)


def _alone_width(history: Sequence[CatalogueIds], k: int) -> int:
    """How far a list read first, with no other before it, can be read: K past the row's
    own past items. Narrower than `readable_width`, with the same K answers; the choice's
    3-fold recalls merge about half as many ids (2-3 s less on planted 100k)."""
    return k + max((len(items) for items in history), default=0)


def merged_recalls(
    inputs: RetrievalInputs, choices: Sequence[MergeSettings], k: int = K
) -> list[float]:
    """The merged recall@K of each of `choices` in place of `inputs.merge` (the tower's
    ranking and the second sources made once: what a build's choice among them costs)."""
    shared = _shared_lists(inputs, k)
    rows, items = target_rows(inputs.user_ids, inputs.targets, inputs.history)
    seconds: dict[tuple[str, ...], IdArray] = {}
    recalls = []
    for merge in choices:
        if merge.order not in seconds:
            seconds[merge.order] = _second_source(inputs, shared, merge, k)
        merged = merge_candidates(
            shared.tower_ranked, seconds[merge.order], shared.excluded, k, merge.tower_share
        )
        recalls.append(_recall(merged, rows, items))
    return recalls


@dataclass(frozen=True)
class _SharedLists:
    history: list[CatalogueIds]
    excluded: list[CatalogueIds]
    itemitem_history: list[CatalogueIds]
    tower_ranked: IdArray
    segment_rows: IdArray | None


def _shared_lists(inputs: RetrievalInputs, k: int) -> _SharedLists:
    """Per user: the train clicks, what the filter removes, what the item-item model reads,
    the tower's ranking and the segment's list."""
    history = histories(inputs.history, inputs.user_ids)
    shown = history
    if inputs.ordering.reads_shown:
        if inputs.shown is None:
            raise ValueError(f"{inputs.ordering} reads shown items: give RetrievalInputs.shown")
        shown = histories(pd.concat([inputs.history, inputs.shown]), inputs.user_ids)
    excluded = shown if inputs.ordering.exclude == "shown" else history
    itemitem_history = shown if inputs.ordering.itemitem_input == "shown" else history
    tower_ranked = tower_top(
        inputs.query_vectors, inputs.item_vectors, inputs.item_ids, excluded, k
    )
    segment_rows = _segment_rows(inputs, excluded, k)
    return _SharedLists(history, excluded, itemitem_history, tower_ranked, segment_rows)


def _second_source(
    inputs: RetrievalInputs, shared: _SharedLists, merge: MergeSettings, k: int
) -> IdArray:
    itemitem = (
        None if inputs.itemitem is None else ItemItemInput(inputs.itemitem, shared.itemitem_history)
    )
    return second_source(
        inputs.coclick,
        inputs.popular_ids,
        shared.history,
        k,
        shared.segment_rows,
        merge.order,
        itemitem,
        shared.excluded,
    )


def histories(pairs: pd.DataFrame, user_ids: npt.ArrayLike) -> list[CatalogueIds]:
    """Per user of `user_ids`, their distinct clicked item ids, ascending."""
    unique = pairs[["user_id", "item_id"]].drop_duplicates().sort_values(["user_id", "item_id"])
    users, items = unique["user_id"].to_numpy(), unique["item_id"].to_numpy()
    wanted = np.asarray(user_ids).astype(users.dtype)
    starts = np.searchsorted(users, wanted, side="left")
    ends = np.searchsorted(users, wanted, side="right")
    return [items[start:end] for start, end in zip(starts, ends, strict=True)]


def _segment_rows(
    inputs: RetrievalInputs, history: Sequence[CatalogueIds], k: int
) -> IdArray | None:
    """Per user, the most clicked items of their segment, as wide as a row can read."""
    if inputs.segment_lists is None or inputs.segments is None:
        return None
    keys = inputs.segments.reindex(inputs.user_ids).fillna(-1).to_numpy(np.int64)
    return inputs.segment_lists.rows(keys, readable_width(history, k))


def tower_top(
    queries: npt.NDArray[np.float32],
    item_vectors: npt.NDArray[np.float32],
    item_ids: CatalogueIds,
    history: Sequence[CatalogueIds],
    k: int,
    chunk: int = 1024,
) -> IdArray:
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
    inputs: RetrievalInputs, k: int = K, lists: CandidateLists | None = None
) -> dict[str, float | int]:
    """Each source's recall@K (`lists`: the sources' lists of `inputs`, if made already)."""
    lists = lists or candidate_lists(inputs, k)
    rows, items = target_rows(inputs.user_ids, inputs.targets, inputs.history)
    seen = np.array([len(h) for h in lists.excluded])[rows]
    unseen = np.maximum(len(inputs.item_ids) - seen, 1)

    def recall(candidates: IdArray) -> float:
        return _recall(candidates, rows, items)

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


def target_rows(
    user_ids: CatalogueIds, targets: pd.DataFrame, history: pd.DataFrame
) -> tuple[npt.NDArray[np.int64], CatalogueIds]:
    """(row of `user_ids`, item id) of every target click the user had not had in `history`."""
    new = new_targets(targets, history)
    row_of_user = pd.Series(np.arange(len(user_ids)), index=user_ids)
    rows = row_of_user.reindex(new["user_id"].to_numpy()).to_numpy()
    known = ~np.isnan(rows)
    return rows[known].astype(np.int64), new["item_id"].to_numpy()[known]


def _recall(candidates: IdArray, rows: npt.NDArray[np.int64], items: CatalogueIds) -> float:
    return float((candidates[rows] == items[:, None]).any(axis=1).mean()) if len(rows) else 0.0


def new_targets(targets: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
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


def warnings(table: dict[str, dict[str, Any]]) -> list[str]:
    """One line per model measure below one of its baselines (the served top-10's:
    `evaluate_top10.warnings`)."""
    from training import evaluate_top10

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
    """The item-item weights (training/itemitem.py); None: builds before them."""
    ordering: OrderSettings = field(default_factory=OrderSettings)
    itemitem_weights: tuple[IdArray, npt.NDArray[np.float32]] | None = None
    """The dense weights (item ids, B) the final score's item-item part reads."""


def build_table(
    encoded: dict[str, pd.DataFrame],
    query_tower: Any,
    items: pd.DataFrame,
    item_vectors: npt.NDArray[np.float32],
    dlrm: Any,
    sources: Sources,
    ease: tuple[IdArray, npt.NDArray[np.float32]] | None = None,
) -> dict[str, dict[str, Any]]:
    """The whole table from the encoded `train` and `valid` frames, the trained (or reloaded)
    query tower and DLRM, the encoded catalogue `items` with their vectors and the build's
    `sources`: ranking AUC, candidates' recall@100, the served top-10 beside its baselines
    (`ease`: EASE's dense weights on the train clicks, if made already)."""
    from training import evaluate_top10, ranking

    train, valid = encoded["train"], encoded["valid"]
    scores = ranking.predict(dlrm, valid)
    inputs = retrieval_inputs(encoded, query_tower, items, item_vectors, sources)
    lists = candidate_lists(inputs)
    return {
        "ranking": ranking_table(_raw_items(train), _raw_items(valid), scores),
        "retrieval": retrieval_table(inputs, lists=lists),
        "top10": evaluate_top10.table(inputs, lists, encoded, items, dlrm, sources.ordering, ease),
    }


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
    from training import coclick, itemitem, retrieval

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


def click_pairs(frame: pd.DataFrame) -> pd.DataFrame:
    clicks = frame.loc[frame[TARGET] == 1, ["user_id_raw", "item_id_raw"]]
    return clicks.rename(columns={"user_id_raw": "user_id", "item_id_raw": "item_id"})


def shown_pairs(frame: pd.DataFrame) -> pd.DataFrame:
    """(user_id, item_id) of every encoded row: each item shown, clicked or not."""
    shown = frame[["user_id_raw", "item_id_raw"]]
    return shown.rename(columns={"user_id_raw": "user_id", "item_id_raw": "item_id"})


def _raw_items(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"item_id": frame["item_id_raw"].to_numpy(), TARGET: frame[TARGET]})
