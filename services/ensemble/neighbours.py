"""Item-item neighbour lists: `NeighbourTable` (an item's weighted neighbours) and the two
reads of it, `coclick_candidates` (the items linked to a user's past items, best first) and
`neighbour_scores` (each candidate's summed weight).

Pure numpy, no other imports: the Triton model copies this package. The table holds co-clicked
items (the build's `coclick.parquet`, cosine of their user sets) or EASE's item-item weights
(`itemitem.parquet`, training/build/itemitem.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from services.ensemble.id_rows import (
    PAD,
    IdArray,
    Pairs,
    as_ids,
    contains,
    fill_rows,
    pair_keys,
    split_keys,
    unique_pairs,
)


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
    past_users, past_ids = unique_pairs(history)
    users, at = _gather_neighbours(table, past_users, past_ids)
    if len(at) == 0 or count <= 0:
        return out
    skipped = (past_users, past_ids)
    if excluded is not None:
        skipped = unique_pairs(
            [np.concatenate([as_ids(h), as_ids(e)]) for h, e in zip(history, excluded, strict=True)]
        )
    if len(history) * len(table.universe) <= min(DENSE_CELLS, DENSE_CELLS_PER_PAIR * len(at)):
        rows, ids = _best_dense(table, users, at, skipped, len(history), count)
    else:
        rows, ids = _best_sparse(table, users, at, skipped)
    fill_rows(out, rows, ids)
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
        past_users, past_ids = unique_pairs(history[rows])
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


def _best_dense(
    table: NeighbourTable,
    users: npt.NDArray[np.int64],
    at: npt.NDArray[np.int64],
    past: Pairs,
    n: int,
    count: int,
) -> Pairs:
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
    table: NeighbourTable, users: npt.NDArray[np.int64], at: npt.NDArray[np.int64], past: Pairs
) -> Pairs:
    """(row, id) of every row's unseen neighbours, best first, by sorting (user, id) keys."""
    pairs, inverse = np.unique(pair_keys(users, table.neighbours[at]), return_inverse=True)
    summed = np.bincount(inverse, weights=table.scores[at].astype(np.float64), minlength=len(pairs))
    unseen = ~contains(pair_keys(*past), pairs)
    pairs, summed = pairs[unseen], summed[unseen]
    pair_users, pair_ids = split_keys(pairs)
    # pairs are sorted by (user, id): a stable sort by (user, -sum) breaks ties by smaller id
    order = np.lexsort((-summed, pair_users))
    return pair_users[order], pair_ids[order]


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
