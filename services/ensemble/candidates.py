"""Candidate sources beside the Two-Tower, and the merge the serving graph and the offline
evaluation share (so the offline recall of the merged set is what serving produces).

Pure numpy, no other imports: the Triton model copies this file.

* `coclick_candidates`: the items a `NeighbourTable` links to the user's past items, best
  summed score first: co-clicked items (the build's `coclick.parquet`, cosine of their user
  sets) or EASE's item-item weights (`itemitem.parquet`, training/itemitem.py).
* `SegmentLists`: per user segment (the values of the user columns the build chose among
  user_group, user_age, user_gender: `segment_keys`), the segment's popular items, best first
  (the build's `segment_popular.parquet`, made by training/segments.py).
* `second_source`: the item-item list, those co-clicked, the popular items of the user's
  segment and the most clicked overall (`popular_items.parquet`), one list after the other in
  the order the build chose, without the user's past items and without repeats.
* `merge_candidates`: the Two-Tower's list and another list interleaved by rank (`tower_share`
  of the places to the tower), without repeats and excluded items, `k` per user.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

IdArray = npt.NDArray[np.int32]
PAD = -1
"""Fills a row only when no candidate is left."""


@dataclass(frozen=True)
class NeighbourTable:
    """item id -> its weighted neighbours (co-clicked items, or EASE's item-item weights),
    best first, as flat arrays (CSR layout).

    `item_ids` is sorted and unique; the neighbours of `item_ids[i]` are
    `neighbours[offsets[i]:offsets[i + 1]]` with `scores` alike, by descending score.
    """

    item_ids: IdArray
    offsets: npt.NDArray[np.int64]
    neighbours: IdArray
    scores: npt.NDArray[np.float32]
    universe: IdArray = field(init=False, repr=False, compare=False)
    """Every neighbour id once, sorted: the columns of a batch's dense score matrix."""
    slots: npt.NDArray[np.int64] = field(init=False, repr=False, compare=False)
    """`neighbours` as positions in `universe`."""

    def __post_init__(self) -> None:
        universe, slots = np.unique(self.neighbours, return_inverse=True)
        object.__setattr__(self, "universe", universe.astype(np.int32))
        object.__setattr__(self, "slots", slots.astype(np.int64).reshape(-1))

    @classmethod
    def from_columns(
        cls, item_id: npt.ArrayLike, neighbour_id: npt.ArrayLike, score: npt.ArrayLike
    ) -> NeighbourTable:
        """From one row per (item, neighbour) pair, in any order (the parquet's columns)."""
        items = np.asarray(item_id, dtype=np.int32)
        neighbours = np.asarray(neighbour_id, dtype=np.int32)
        scores = np.asarray(score, dtype=np.float32)
        order = np.lexsort((neighbours, -scores, items))
        items, neighbours, scores = items[order], neighbours[order], scores[order]
        keys, starts = np.unique(items, return_index=True)
        offsets = np.append(starts, len(items)).astype(np.int64)
        return cls(keys.astype(np.int32), offsets, neighbours, scores)

    def neighbours_of(self, item_id: int) -> tuple[IdArray, npt.NDArray[np.float32]]:
        row = int(np.searchsorted(self.item_ids, item_id))
        if row >= len(self.item_ids) or self.item_ids[row] != item_id:
            return np.zeros(0, np.int32), np.zeros(0, np.float32)
        start, end = self.offsets[row], self.offsets[row + 1]
        return self.neighbours[start:end], self.scores[start:end]


def coclick_candidates(
    table: NeighbourTable,
    history: Sequence[npt.ArrayLike],
    count: int,
    excluded: Sequence[npt.ArrayLike] | None = None,
) -> IdArray:
    """int32 [n, count]: per user, the items `table` links to their `history` (past item ids),
    by summed score (ties: smaller id first), never a history item nor one of the row's
    `excluded`; -1 where none is left. Large batches (the build's evaluation) go DENSE_CELLS
    cells at a time: each row's answer is the same either way."""
    step = max(1, DENSE_CELLS // max(len(table.universe), 1))
    if len(history) > step:
        return np.concatenate(
            [
                _linked_items(
                    table,
                    history[start : start + step],
                    count,
                    None if excluded is None else excluded[start : start + step],
                )
                for start in range(0, len(history), step)
            ]
        )
    return _linked_items(table, history, count, excluded)


def _linked_items(
    table: NeighbourTable,
    history: Sequence[npt.ArrayLike],
    count: int,
    excluded: Sequence[npt.ArrayLike] | None,
) -> IdArray:
    out = np.full((len(history), count), PAD, dtype=np.int32)
    past_users, past_ids = _unique_pairs(history)
    users, at = _gather_neighbours(table, past_users, past_ids)
    if len(at) == 0 or count <= 0:
        return out
    skipped = (past_users, past_ids)
    if excluded is not None:
        skipped = _unique_pairs(
            [
                np.concatenate([_as_ids(h), _as_ids(e)])
                for h, e in zip(history, excluded, strict=True)
            ]
        )
    if len(history) * len(table.universe) <= min(DENSE_CELLS, DENSE_CELLS_PER_PAIR * len(at)):
        rows, ids = _best_dense(table, users, at, skipped, len(history), count)
    else:
        rows, ids = _best_sparse(table, users, at, skipped)
    _fill_rows(out, rows, ids)
    return out


def neighbour_scores(
    table: NeighbourTable, history: Sequence[npt.ArrayLike], candidates: npt.ArrayLike
) -> npt.NDArray[np.float32]:
    """float32 [n, K]: per row, each candidate's weight summed over the row's `history` items
    in `table` (EASE's X_u B restricted to the kept weights); 0 where none links them.

    Rows are summed into a dense [rows, table.universe] block, as many rows at a time as
    SCORE_CELLS allows."""
    ids = np.asarray(candidates, dtype=np.int32)
    out = np.zeros(ids.shape, dtype=np.float32)
    width = len(table.universe)
    if width == 0 or ids.size == 0:
        return out
    slot = np.minimum(np.searchsorted(table.universe, ids), width - 1)
    linked = table.universe[slot] == ids
    step = max(1, SCORE_CELLS // width)
    for start in range(0, len(ids), step):
        rows = slice(start, start + step)
        past_users, past_ids = _unique_pairs(history[rows])
        users, at = _gather_neighbours(table, past_users, past_ids)
        n = min(step, len(ids) - start)
        cells = users * width + table.slots[at]
        summed = np.bincount(cells, weights=table.scores[at], minlength=n * width)
        block = summed.reshape(n, width)
        picked = np.take_along_axis(block, slot[rows], axis=1)
        out[rows] = np.where(linked[rows], picked, 0.0)
    return out


SCORE_CELLS = 1 << 20
"""`neighbour_scores` sums at most this many (row, neighbour) cells at once (8 MB)."""


DENSE_CELLS = 1 << 17
"""Batches up to this many (user, neighbour) cells may sum scores in a dense matrix (1 MB)..."""
DENSE_CELLS_PER_PAIR = 8
"""...when it has at most this many cells per gathered (user, neighbour) pair: the dense path
costs O(cells) and slows sharply past about 200k cells, the sparse one costs O(pairs log pairs).
Measured on a 100k-row build (7,000 neighbours): one user with a long history (2.3 cells per
pair) dense 0.19 ms, sparse 0.28; typical users (15-60 cells per pair) sparse 0.09-1.06 ms
against dense 0.12-1.10 at 1-16 users, and 2.1 / 3.1 ms against 6.6 / 11.2 at 32 / 64 users."""

_Pairs = tuple[npt.NDArray[np.int64], IdArray]


def _best_dense(
    table: NeighbourTable,
    users: npt.NDArray[np.int64],
    at: npt.NDArray[np.int64],
    past: _Pairs,
    n: int,
    count: int,
) -> _Pairs:
    """(row, id) of each row's `count` best unseen neighbours, best first, via [n, universe]."""
    width = len(table.universe)
    cells = users * width + table.slots[at]
    # bincount adds in array order: per user, past items ascending, each item's neighbours in
    # table order, the order the per-user sums always had (float sums stay bit-identical)
    summed = np.bincount(cells, weights=table.scores[at].astype(np.float64), minlength=n * width)
    found = np.zeros(n * width, dtype=bool)
    found[cells] = True
    past_users, past_ids = past
    slot = np.minimum(np.searchsorted(table.universe, past_ids), width - 1)
    seen = table.universe[slot] == past_ids
    found[past_users[seen] * width + slot[seen]] = False
    matrix, found = summed.reshape(n, width), found.reshape(n, width)
    if count < width:
        # every cell at least as good as the row's count-th best: ties there are kept whole
        worst = np.partition(np.where(found, matrix, -np.inf), width - count, axis=1)
        found &= matrix >= worst[:, width - count, None]
    rows, slots = np.nonzero(found)  # by row, then id: lexsort's stability breaks ties by id
    order = np.lexsort((-matrix[rows, slots], rows))
    return rows[order].astype(np.int64), table.universe[slots[order]]


def _best_sparse(
    table: NeighbourTable, users: npt.NDArray[np.int64], at: npt.NDArray[np.int64], past: _Pairs
) -> _Pairs:
    """(row, id) of every row's unseen neighbours, best first, by sorting (user, id) keys."""
    pairs, inverse = np.unique(_pair_keys(users, table.neighbours[at]), return_inverse=True)
    summed = np.bincount(inverse, weights=table.scores[at].astype(np.float64), minlength=len(pairs))
    unseen = ~_contains(_pair_keys(*past), pairs)
    pairs, summed = pairs[unseen], summed[unseen]
    pair_users, pair_ids = _split_keys(pairs)
    # pairs are sorted by (user, id): a stable sort by (user, -sum) breaks ties by smaller id
    order = np.lexsort((-summed, pair_users))
    return pair_users[order], pair_ids[order]


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


SEGMENT_BITS = 21
"""Bits per column in a segment key: encoded category indices below 2**21 (about 2 million)."""


def segment_keys(columns: Sequence[npt.ArrayLike]) -> npt.NDArray[np.int64]:
    """int64 [n]: one key per row of the segment's columns (encoded category indices, at most
    three columns); -1 where a value is negative or too large to key (no segment)."""
    if not 1 <= len(columns) <= 3:
        raise ValueError(f"a segment has 1 to 3 columns, got {len(columns)}")
    values = [np.asarray(column, dtype=np.int64).reshape(-1) for column in columns]
    keys = np.zeros(len(values[0]), dtype=np.int64)
    valid = np.ones(len(values[0]), dtype=bool)
    for value in values:
        valid &= (value >= 0) & (value < (1 << SEGMENT_BITS))
        keys = (keys << SEGMENT_BITS) | np.where(valid, value, 0)
    return np.where(valid, keys, -1)


@dataclass(frozen=True)
class SegmentLists:
    """segment key -> its most clicked item ids, best first, as flat arrays (CSR layout):
    `keys` sorted and unique, the items of `keys[i]` are `items[offsets[i]:offsets[i + 1]]`."""

    keys: npt.NDArray[np.int64]
    offsets: npt.NDArray[np.int64]
    items: IdArray
    pairs: npt.NDArray[np.int64] = field(init=False, repr=False, compare=False)
    """Sorted keys of every (segment position, item) pair, for `ranks_of`."""
    pair_ranks: npt.NDArray[np.int64] = field(init=False, repr=False, compare=False)
    """Each of `pairs`' rank in its segment's list (its first, if listed twice)."""

    def __post_init__(self) -> None:
        lengths = np.diff(self.offsets)
        segment = np.repeat(np.arange(len(self.keys), dtype=np.int64), lengths)
        rank = np.arange(len(self.items), dtype=np.int64) - np.repeat(self.offsets[:-1], lengths)
        pairs = _pair_keys(segment, self.items)
        order = np.argsort(pairs, kind="stable")
        pairs, rank = pairs[order], rank[order]
        first = np.r_[True, pairs[1:] != pairs[:-1]] if len(pairs) else np.zeros(0, bool)
        object.__setattr__(self, "pairs", pairs[first])
        object.__setattr__(self, "pair_ranks", rank[first])

    def ranks_of(self, keys: npt.ArrayLike, candidates: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """int64 [n, K]: each candidate's rank in the list of its row's segment (`keys` [n]),
        -1 where the list does not hold it (or the segment is unknown)."""
        wanted = np.asarray(keys, dtype=np.int64).reshape(-1)
        ids = np.asarray(candidates, dtype=np.int64)
        out = np.full(ids.shape, -1, dtype=np.int64)
        if len(self.pairs) == 0 or ids.size == 0:
            return out
        at = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
        known = (self.keys[at] == wanted)[:, None] & (ids >= 0)
        pair = _pair_keys(np.broadcast_to(at[:, None], ids.shape), ids)
        place = np.minimum(np.searchsorted(self.pairs, pair), len(self.pairs) - 1)
        found = known & (self.pairs[place] == pair)
        out[found] = self.pair_ranks[place[found]]
        return out

    @classmethod
    def from_columns(cls, segment: npt.ArrayLike, item_id: npt.ArrayLike) -> SegmentLists:
        """From one row per (segment, item) pair, each segment's items best first (the
        parquet's columns, as the build writes them)."""
        segments = np.asarray(segment, dtype=np.int64)
        items = np.asarray(item_id, dtype=np.int32)
        order = np.argsort(segments, kind="stable")  # keeps each segment's rank order
        segments, items = segments[order], items[order]
        keys, starts = np.unique(segments, return_index=True)
        return cls(keys, np.append(starts, len(items)).astype(np.int64), items)

    def rows(self, keys: npt.ArrayLike, width: int) -> IdArray:
        """int32 [n, width]: each key's first `width` items, -1 padded (and for unknown keys)."""
        wanted = np.asarray(keys, dtype=np.int64).reshape(-1)
        out = np.full((len(wanted), max(width, 0)), PAD, dtype=np.int32)
        if len(self.keys) == 0 or width <= 0:
            return out
        at = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
        known = self.keys[at] == wanted
        rows = np.nonzero(known)[0]
        starts = self.offsets[at[rows]]
        lengths = np.minimum(self.offsets[at[rows] + 1] - starts, width)
        row_of = np.repeat(rows, lengths)
        run_offsets = np.cumsum(lengths) - lengths
        rank = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(run_offsets, lengths)
        out[row_of, rank] = self.items[np.repeat(starts, lengths) + rank]
        return out


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
    keys = _pair_keys(rows, ids)
    keep = ~_contains(_excluded_keys(excluded), keys)
    rows, ids, keys = rows[keep], ids[keep], keys[keep]
    # np.unique's return_index is the first occurrence; row-major positions keep rank order
    first = np.sort(np.unique(keys, return_index=True)[1])
    _fill_rows(out, rows[first], ids[first])
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


def _as_ids(values: npt.ArrayLike | Any) -> npt.NDArray[np.int64]:
    """An excluded collection (array, list, set of ints) as a flat int64 array."""
    if isinstance(values, set | frozenset):
        values = list(values)
    return np.asarray(values, dtype=np.int64).reshape(-1)


_ID_SPAN = np.int64(1) << np.int64(32)
"""Keys `row * _ID_SPAN + (id - int32 min)` order by row, then id, and are unique per pair."""
_ID_MIN = np.int64(np.iinfo(np.int32).min)


def _pair_keys(rows: npt.NDArray[Any], ids: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    keys: npt.NDArray[np.int64] = rows.astype(np.int64) * _ID_SPAN + (
        ids.astype(np.int64) - _ID_MIN
    )
    return keys


def _split_keys(keys: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], IdArray]:
    rows = keys // _ID_SPAN
    return rows, (keys - rows * _ID_SPAN + _ID_MIN).astype(np.int32)


def _contains(
    sorted_keys: npt.NDArray[np.int64], keys: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Whether each of `keys` is in `sorted_keys` (sorted ascending)."""
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    found: npt.NDArray[np.bool_] = sorted_keys[at] == keys
    return found


def _unique_pairs(history: Sequence[npt.ArrayLike]) -> tuple[npt.NDArray[np.int64], IdArray]:
    """(user row, past item) pairs, unique, by user then item."""
    past = [np.asarray(items, dtype=np.int32).reshape(-1) for items in history]
    if not past:
        return np.zeros(0, np.int64), np.zeros(0, np.int32)
    lengths = [len(items) for items in past]
    users = np.repeat(np.arange(len(past), dtype=np.int64), lengths)
    keys = np.unique(_pair_keys(users, np.concatenate(past)))
    return _split_keys(keys)


def _gather_neighbours(
    table: NeighbourTable, users: npt.NDArray[np.int64], items: IdArray
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(user, position in the table's flat arrays) of every neighbour of the users' items, in
    input order, table order within an item."""
    if len(table.item_ids) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows = np.minimum(np.searchsorted(table.item_ids, items), len(table.item_ids) - 1)
    known = table.item_ids[rows] == items
    rows, known_users = rows[known], users[known]
    starts = table.offsets[rows]
    lengths = table.offsets[rows + 1] - starts
    # position i of a run starting at `start` with run offset `o`: start + (i - o)
    run_offsets = np.cumsum(lengths) - lengths
    at = np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(starts - run_offsets, lengths)
    return np.repeat(known_users, lengths), at


def _excluded_keys(excluded: Sequence[npt.ArrayLike]) -> npt.NDArray[np.int64]:
    """Sorted pair keys of every row's excluded ids (ids no int32 could equal are dropped)."""
    values = [_as_ids(skip) for skip in excluded]
    if not values:
        return np.zeros(0, np.int64)
    rows = np.repeat(np.arange(len(values), dtype=np.int64), [len(v) for v in values])
    ids = np.concatenate(values)
    fits = (ids >= _ID_MIN) & (ids <= np.iinfo(np.int32).max)
    return np.sort(_pair_keys(rows[fits], ids[fits]))


def _fill_rows(out: IdArray, rows: npt.NDArray[np.int64], ids: IdArray) -> None:
    """Writes `ids` (rows ascending, each row's ids in rank order) into the first columns of
    their rows."""
    if len(rows) == 0:
        return
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])  # where each row's run starts
    ranks = np.arange(len(rows)) - np.repeat(starts, np.diff(np.r_[starts, len(rows)]))
    keep = ranks < out.shape[1]
    out[rows[keep], ranks[keep]] = ids[keep]
