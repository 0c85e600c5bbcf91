"""Candidate sources beside the Two-Tower, and the merge the serving graph and the offline
evaluation share (so the offline recall of the merged set is what serving produces).

Pure numpy, no other imports: the Triton model copies this package. The lists themselves live
in `neighbours.py` (`NeighbourTable`, `coclick_candidates`, `neighbour_scores`) and
`segment_lists.py` (`SegmentLists`, `segment_keys`), the row-keyed array helpers in
`id_rows.py`; this module names them all, as the build and the stages import them.

* `coclick_candidates`: the items a `NeighbourTable` links to the user's past items, best
  summed score first: co-clicked items (the build's `coclick.parquet`, cosine of their user
  sets) or EASE's item-item weights (`itemitem.parquet`, training/build/itemitem.py).
* `SegmentLists`: per user segment (the values of the user columns the build chose among
  user_group, user_age, user_gender: `segment_keys`), the segment's popular items, best first
  (the build's `segment_popular.parquet`, made by training/build/segments.py).
* `second_source`: the item-item list, those co-clicked, the popular items of the user's
  segment and the most clicked overall (`popular_items.parquet`), one list after the other in
  the order the build chose, without the user's past items and without repeats.
* `merge_candidates`: the Two-Tower's list and another list interleaved by rank (`tower_share`
  of the places to the tower), without repeats and excluded items, `k` per user.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from services.ensemble.id_rows import (
    PAD,
    IdArray,
    contains,
    excluded_keys,
    fill_rows,
    pair_keys,
)
from services.ensemble.neighbours import (
    DENSE_CELLS,
    DENSE_CELLS_PER_PAIR,
    SCORE_CELLS,
    NeighbourTable,
    coclick_candidates,
    neighbour_scores,
)
from services.ensemble.segment_lists import SEGMENT_BITS, SegmentLists, segment_keys

__all__ = [
    "DEFAULT_ORDER",
    "DENSE_CELLS",
    "DENSE_CELLS_PER_PAIR",
    "PAD",
    "SCORE_CELLS",
    "SEGMENT_BITS",
    "SOURCE_LISTS",
    "IdArray",
    "ItemItemInput",
    "NeighbourTable",
    "SegmentLists",
    "check_order",
    "coclick_candidates",
    "merge_candidates",
    "neighbour_scores",
    "readable_width",
    "second_source",
    "segment_keys",
]


SOURCE_LISTS = ("itemitem", "coclick", "segment_popular", "popular_items")
"""The second source's lists by the names builds give them (the manifest's `second_source`)."""
DEFAULT_ORDER = ("coclick", "popular_items")
"""The second source of builds made before the segment lists."""


def readable_width(history: Sequence[npt.ArrayLike], count: int) -> int:
    """How far into one of the second source's lists a row can read: it skips at most its past
    items and `count` ids taken from the lists before (so a batch's answers do not depend on
    the other rows in it)."""
    return 2 * max(count, 0) + max((np.size(items) for items in history), default=0)


def check_order(order: Sequence[str]) -> tuple[str, ...]:
    """`order` as a tuple, if it names known lists once each and ends with the most clicked
    (the one list that always fills a row); else ValueError."""
    names = tuple(order)
    unknown = [name for name in names if name not in SOURCE_LISTS]
    if unknown or len(set(names)) != len(names) or names[-1:] != ("popular_items",):
        raise ValueError(
            f"a second source names each of {SOURCE_LISTS} at most once and ends with "
            f"popular_items, got {list(names)}"
        )
    return names


def second_source(
    table: NeighbourTable,
    popular_ids: npt.ArrayLike,
    history: Sequence[npt.ArrayLike],
    count: int,
    segment_rows: npt.ArrayLike | None = None,
    order: Sequence[str] = SOURCE_LISTS,
    itemitem: ItemItemInput | None = None,
    excluded: Sequence[npt.ArrayLike] | None = None,
) -> IdArray:
    """int32 [n, count]: the lists `order` names, one after the other: "itemitem" (the items
    the build's item-item model links to `itemitem.history`; skipped when None), "coclick"
    (the items co-clicked with the user's past items), "segment_popular" (the row's
    `segment_rows` [n, W], the popular items of the user's segment, -1 padded:
    `SegmentLists.rows`; skipped when None) and "popular_items" (the most clicked overall);
    none of the row's `excluded` (default: its `history`) nor repeated; -1 only when all are
    used up."""
    excluded = history if excluded is None else excluded
    needed = readable_width(excluded, count)
    lists = []
    for name in check_order(order):
        if name == "itemitem" and itemitem is not None:
            skip = None if excluded is itemitem.history else excluded  # its own history anyway
            lists.append(coclick_candidates(itemitem.table, itemitem.history, count, skip))
        elif name == "coclick":
            skip = None if excluded is history else excluded
            lists.append(coclick_candidates(table, history, count, skip))
        elif name == "segment_popular" and segment_rows is not None:
            lists.append(np.asarray(segment_rows, dtype=np.int32)[:, :needed])
        elif name == "popular_items":
            popular = np.asarray(popular_ids, dtype=np.int32).reshape(1, -1)[:, :needed]
            lists.append(np.repeat(popular, len(history), axis=0))
    combined = np.concatenate(lists, axis=1)
    return merge_candidates(combined, combined[:, :0], excluded, count, tower_share=1.0)


@dataclass(frozen=True)
class ItemItemInput:
    """The second source's item-item list: the build's item-item `table` read from each user's
    `history` (their clicks, or every item shown to them: the build's choice)."""

    table: NeighbourTable
    history: Sequence[npt.ArrayLike]


def merge_candidates(
    tower_ids: npt.ArrayLike,
    extra_ids: npt.ArrayLike,
    excluded: Sequence[npt.ArrayLike],
    k: int,
    tower_share: float = 0.5,
) -> IdArray:
    """int32 [n, k]: per row, `tower_ids` [n, A] and `extra_ids` [n, B] interleaved by rank.

    The tower's item at rank r comes at (r + 0.5) / tower_share, the other list's at
    (r + 0.5) / (1 - tower_share), the tower first on ties; -1 entries, repeats and the
    row's `excluded` ids are skipped. When one list is used up the other continues; -1 pads a
    row only when both are. Deterministic; `tower_share` 1.0 means "tower, then the rest".
    """
    if not 0.0 <= tower_share <= 1.0:
        raise ValueError(f"tower_share must be within [0, 1], got {tower_share}")
    tower = np.asarray(tower_ids, dtype=np.int32)
    extra = np.asarray(extra_ids, dtype=np.int32)
    if tower.ndim != 2 or extra.ndim != 2 or not len(tower) == len(extra) == len(excluded):
        raise ValueError(
            f"need [n, A] and [n, B] ids and n excluded sets, got {tower.shape}, "
            f"{extra.shape} and {len(excluded)}"
        )
    combined = np.concatenate([tower, extra], axis=1)[:, _interleaving(tower, extra, tower_share)]
    out = np.full((len(combined), k), PAD, dtype=np.int32)
    rows = np.repeat(np.arange(len(combined), dtype=np.int64), combined.shape[1])
    ids = combined.reshape(-1)
    keep = ids != PAD
    rows, ids = rows[keep], ids[keep]
    keys = pair_keys(rows, ids)
    keep = ~contains(excluded_keys(excluded), keys)
    rows, ids, keys = rows[keep], ids[keep], keys[keep]
    # np.unique's return_index is the first occurrence; row-major positions keep rank order
    first = np.sort(np.unique(keys, return_index=True)[1])
    fill_rows(out, rows[first], ids[first])
    return out


def _interleaving(tower: IdArray, extra: IdArray, tower_share: float) -> npt.NDArray[np.intp]:
    """Column order of [tower | extra] by each entry's place in the merged list."""
    return _interleaving_of(tower.shape[1], extra.shape[1], tower_share)


@lru_cache(maxsize=64)
def _interleaving_of(
    tower_width: int, extra_width: int, tower_share: float
) -> npt.NDArray[np.intp]:
    """Made once per shape (a pass of one shape repeats it on every request); read-only."""
    with np.errstate(divide="ignore"):
        tower_at = (np.arange(tower_width) + 0.5) / tower_share
        extra_at = (np.arange(extra_width) + 0.5) / (1.0 - tower_share)
    order = np.argsort(np.concatenate([tower_at, extra_at]), kind="stable")
    order.flags.writeable = False
    return order
