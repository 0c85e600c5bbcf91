"""Per user segment, the segment's most clicked items: `segment_keys` (one key per row of the
segment's user columns) and `SegmentLists` (key -> items, best first).

Pure numpy, no other imports: the Triton model copies this package. A segment is the values of
the user columns the build chose among user_group, user_age, user_gender; its list is the
build's `segment_popular.parquet` (made by training/build/segments.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from services.ensemble.id_rows import PAD, IdArray, pair_keys

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
        pairs = pair_keys(segment, self.items)
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
        pair = pair_keys(np.broadcast_to(at[:, None], ids.shape), ids)
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
