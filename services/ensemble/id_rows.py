"""Per-row id sets as flat sorted keys: the array tricks the candidate lists share.

Pure numpy, no other imports: the Triton model copies this package. A (row, id) pair is one
int64 key, `row * 2**32 + (id - int32 min)`, so keys order by row, then id, and sets of pairs
are sorted arrays searched with `np.searchsorted` instead of per-row Python sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

IdArray = npt.NDArray[np.int32]
PAD = -1
"""Fills a row only when no candidate is left."""
Pairs = tuple[npt.NDArray[np.int64], IdArray]
"""(row, id) pairs as two aligned arrays."""


def as_ids(values: npt.ArrayLike | Any) -> npt.NDArray[np.int64]:
    """An excluded collection (array, list, set of ints) as a flat int64 array."""
    if isinstance(values, set | frozenset):
        values = list(values)
    return np.asarray(values, dtype=np.int64).reshape(-1)


_ID_SPAN = np.int64(1) << np.int64(32)
"""Keys `row * _ID_SPAN + (id - int32 min)` order by row, then id, and are unique per pair."""
_ID_MIN = np.int64(np.iinfo(np.int32).min)


def pair_keys(rows: npt.NDArray[Any], ids: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    keys: npt.NDArray[np.int64] = rows.astype(np.int64) * _ID_SPAN + (
        ids.astype(np.int64) - _ID_MIN
    )
    return keys


def split_keys(keys: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], IdArray]:
    rows = keys // _ID_SPAN
    return rows, (keys - rows * _ID_SPAN + _ID_MIN).astype(np.int32)


def contains(
    sorted_keys: npt.NDArray[np.int64], keys: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Whether each of `keys` is in `sorted_keys` (sorted ascending)."""
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    found: npt.NDArray[np.bool_] = sorted_keys[at] == keys
    return found


def unique_pairs(history: Sequence[npt.ArrayLike]) -> tuple[npt.NDArray[np.int64], IdArray]:
    """(user row, past item) pairs, unique, by user then item."""
    past = [np.asarray(items, dtype=np.int32).reshape(-1) for items in history]
    if not past:
        return np.zeros(0, np.int64), np.zeros(0, np.int32)
    lengths = [len(items) for items in past]
    users = np.repeat(np.arange(len(past), dtype=np.int64), lengths)
    keys = np.unique(pair_keys(users, np.concatenate(past)))
    return split_keys(keys)


def excluded_keys(excluded: Sequence[npt.ArrayLike]) -> npt.NDArray[np.int64]:
    """Sorted pair keys of every row's excluded ids (ids no int32 could equal are dropped)."""
    values = [as_ids(skip) for skip in excluded]
    if not values:
        return np.zeros(0, np.int64)
    rows = np.repeat(np.arange(len(values), dtype=np.int64), [len(v) for v in values])
    ids = np.concatenate(values)
    fits = (ids >= _ID_MIN) & (ids <= np.iinfo(np.int32).max)
    return np.sort(pair_keys(rows[fits], ids[fits]))


def fill_rows(out: IdArray, rows: npt.NDArray[np.int64], ids: IdArray) -> None:
    """Writes `ids` (rows ascending, each row's ids in rank order) into the first columns of
    their rows."""
    if len(rows) == 0:
        return
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])  # where each row's run starts
    ranks = np.arange(len(rows)) - np.repeat(starts, np.diff(np.r_[starts, len(rows)]))
    keep = ranks < out.shape[1]
    out[rows[keep], ranks[keep]] = ids[keep]
