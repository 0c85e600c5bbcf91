"""Candidate sources beside the Two-Tower, and the merge the serving graph and the offline
evaluation share (so the offline recall of the merged set is what serving produces).

Pure numpy, no other imports: the Triton model copies this file.

* `coclick_candidates`: items co-clicked with the user's past items (the build's
  `coclick.parquet`, loaded with `CoClickTable.from_columns`), best summed score first.
* `second_source`: those, then the most clicked items (`popular_items.parquet`), without the
  user's past items and without repeats.
* `merge_candidates`: the Two-Tower's list and another list interleaved by rank (`tower_share`
  of the places to the tower), without repeats and excluded items, `k` per user.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

IdArray = npt.NDArray[np.int32]
PAD = -1
"""Fills a row only when no candidate is left."""


@dataclass(frozen=True)
class CoClickTable:
    """item id -> its co-clicked items, best first, as flat arrays (CSR layout).

    `item_ids` is sorted and unique; the neighbours of `item_ids[i]` are
    `neighbours[offsets[i]:offsets[i + 1]]` with `scores` alike, by descending score.
    """

    item_ids: IdArray
    offsets: npt.NDArray[np.int64]
    neighbours: IdArray
    scores: npt.NDArray[np.float32]

    @classmethod
    def from_columns(
        cls, item_id: npt.ArrayLike, neighbour_id: npt.ArrayLike, score: npt.ArrayLike
    ) -> CoClickTable:
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
    table: CoClickTable, history: Sequence[npt.ArrayLike], count: int
) -> IdArray:
    """int32 [n, count]: per user, the items co-clicked with their `history` (past item ids),
    by summed score (ties: smaller id first), never a history item; -1 where none is left."""
    out = np.full((len(history), count), PAD, dtype=np.int32)
    for row, past in enumerate(history):
        past_ids = np.unique(np.asarray(past, dtype=np.int32))
        found = [table.neighbours_of(int(item)) for item in past_ids]
        if not found:
            continue
        ids = np.concatenate([ids for ids, _ in found])
        scores = np.concatenate([scores for _, scores in found])
        unique, inverse = np.unique(ids, return_inverse=True)
        summed = np.bincount(inverse, weights=scores, minlength=len(unique))
        keep = ~np.isin(unique, past_ids)
        unique, summed = unique[keep], summed[keep]
        best = unique[np.lexsort((unique, -summed))][:count]
        out[row, : len(best)] = best
    return out


def second_source(
    table: CoClickTable, popular_ids: npt.ArrayLike, history: Sequence[npt.ArrayLike], count: int
) -> IdArray:
    """int32 [n, count]: co-clicked items first, then the most clicked ones, neither a past
    item nor repeated; -1 only when both are used up."""
    coclicked = coclick_candidates(table, history, count)
    popular = np.asarray(popular_ids, dtype=np.int32).reshape(1, -1)
    repeated = np.repeat(popular, len(history), axis=0)
    return merge_candidates(coclicked, repeated, history, count, tower_share=1.0)


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
    for row, (ids, skip) in enumerate(zip(combined, excluded, strict=True)):
        kept = _first_occurrences(ids[(ids != PAD) & ~np.isin(ids, _as_ids(skip))])[:k]
        out[row, : len(kept)] = kept
    return out


def _interleaving(tower: IdArray, extra: IdArray, tower_share: float) -> npt.NDArray[np.intp]:
    """Column order of [tower | extra] by each entry's place in the merged list."""
    with np.errstate(divide="ignore"):
        tower_at = (np.arange(tower.shape[1]) + 0.5) / tower_share
        extra_at = (np.arange(extra.shape[1]) + 0.5) / (1.0 - tower_share)
    return np.argsort(np.concatenate([tower_at, extra_at]), kind="stable")


def _first_occurrences(ids: IdArray) -> IdArray:
    _, first = np.unique(ids, return_index=True)
    kept: IdArray = ids[np.sort(first)]
    return kept


def _as_ids(values: npt.ArrayLike | Any) -> npt.NDArray[np.int64]:
    """An excluded collection (array, list, set of ints) as a flat int64 array."""
    if isinstance(values, set | frozenset):
        values = list(values)
    return np.asarray(values, dtype=np.int64).reshape(-1)
