"""The candidate lists a build's users get, made in process as serving makes them: the tower's
list and the second source merged by `services.ensemble.candidates.merge_candidates`, without
what the filter removes; each source's lists beside them, and the recalls of merge choices."""

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
from training.build import segments
from training.evaluation.user_clicks import CatalogueIds, histories, recall, target_rows

K = 100

TOWER_SHARE = 0.9
"""Share of the merged candidates' places given to the Two-Tower in builds made before the
build chose it (training/build/merge_choice.py), and the default of `MergeSettings`."""


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
    """The build's most clicked items per segment (training/build/segments.py); None: no segment
    baseline."""
    segments: pd.Series | None = None
    """user id -> segment key (`segments.keys`), every train and valid user."""
    merge: MergeSettings = field(default_factory=MergeSettings)
    shown: pd.DataFrame | None = None
    """(user_id, item_id) of every item shown in the history rows, clicked or not: what the
    filter removes and the item-item model reads when `ordering` says so (None: clicks only)."""
    itemitem: NeighbourTable | None = None
    """The build's item-item weights (training/build/itemitem.py); None: no item-item list."""
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
    return recall(ranked, *target_rows(user_ids, targets, history))


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
        recalls.append(recall(merged, rows, items))
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
        out[start : start + chunk] = _best_first(scores, item_ids, width)
    return out


def _best_first(
    scores: npt.NDArray[np.float32], item_ids: CatalogueIds, width: int, entries: int = 1 << 22
) -> IdArray:
    """int32 [rows, width]: each row's `width` best items, best first, ranked a few rows at a
    time (`entries` scores at most): ranking a whole chunk at once took a negated copy and an
    int64 index array the size of the scores (1.2 GB a chunk at 100k items)."""
    rows = max(1, entries // max(1, scores.shape[1]))
    out = np.empty((len(scores), width), dtype=np.int32)
    for start in range(0, len(scores), rows):
        part = scores[start : start + rows]
        best = np.argpartition(-part, width - 1, axis=1)[:, :width]
        order = np.argsort(-np.take_along_axis(part, best, axis=1), axis=1, kind="stable")
        out[start : start + rows] = item_ids[np.take_along_axis(best, order, axis=1)]
    return out
