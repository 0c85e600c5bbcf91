"""The batch (numpy) candidate sources and merge give exactly what the former per-user loops
gave: same ids, same order, same -1 padding, same tie-breaking, on many random cases."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from services.ensemble import neighbours as neighbour_lists
from services.ensemble.candidates import (
    PAD,
    NeighbourTable,
    coclick_candidates,
    merge_candidates,
    second_source,
)

SHARES = (0.0, 0.25, 0.5, 0.75, 1.0, 0.3)


# --- the per-user implementation as it was before vectorizing (the reference) -------------


def _reference_coclick(table: NeighbourTable, history: Sequence[Any], count: int) -> np.ndarray:
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


def _reference_second_source(
    table: NeighbourTable, popular_ids: Any, history: Sequence[Any], count: int
) -> np.ndarray:
    coclicked = _reference_coclick(table, history, count)
    popular = np.asarray(popular_ids, dtype=np.int32).reshape(1, -1)
    repeated = np.repeat(popular, len(history), axis=0)
    return _reference_merge(coclicked, repeated, history, count, tower_share=1.0)


def _reference_merge(
    tower_ids: Any, extra_ids: Any, excluded: Sequence[Any], k: int, tower_share: float = 0.5
) -> np.ndarray:
    tower = np.asarray(tower_ids, dtype=np.int32)
    extra = np.asarray(extra_ids, dtype=np.int32)
    with np.errstate(divide="ignore"):
        tower_at = (np.arange(tower.shape[1]) + 0.5) / tower_share
        extra_at = (np.arange(extra.shape[1]) + 0.5) / (1.0 - tower_share)
    order = np.argsort(np.concatenate([tower_at, extra_at]), kind="stable")
    combined = np.concatenate([tower, extra], axis=1)[:, order]
    out = np.full((len(combined), k), PAD, dtype=np.int32)
    for row, (ids, skip) in enumerate(zip(combined, excluded, strict=True)):
        if isinstance(skip, set | frozenset):
            skip = list(skip)
        skip_ids = np.asarray(skip, dtype=np.int64).reshape(-1)
        kept = ids[(ids != PAD) & ~np.isin(ids, skip_ids)]
        _, first = np.unique(kept, return_index=True)
        kept = kept[np.sort(first)][:k]
        out[row, : len(kept)] = kept
    return out


# --- random cases ----------------------------------------------------------------------------


def _random_table(rng: np.random.Generator, n_items: int, per_item: int) -> NeighbourTable:
    items = np.repeat(rng.choice(n_items * 2, size=n_items, replace=False), per_item)
    neighbours = rng.integers(0, n_items * 2, size=len(items))
    # few distinct scores (ties within and across items) plus some odd floats
    scores = np.where(
        rng.random(len(items)) < 0.7,
        rng.integers(1, 5, size=len(items)) / 4.0,
        rng.random(len(items)) - 0.2,  # a few negative scores
    ).astype(np.float32)
    keep = items != neighbours
    return NeighbourTable.from_columns(items[keep], neighbours[keep], scores[keep])


def _random_history(rng: np.random.Generator, users: int, n_items: int) -> list[Any]:
    history: list[Any] = []
    for _ in range(users):
        size = int(rng.choice([0, 1, 3, 20, 60]))
        past = rng.integers(0, n_items * 2 + 5, size=size)  # some unknown to the table, repeats
        history.append(past if rng.random() < 0.8 else past.tolist())
    return history


def _random_ids(rng: np.random.Generator, users: int, width: int, n_items: int) -> np.ndarray:
    ids = rng.integers(0, n_items * 2, size=(users, width)).astype(np.int32)
    ids[rng.random(ids.shape) < 0.1] = PAD
    return ids


def _assert_same(found: npt.NDArray[Any], expected: npt.NDArray[Any]) -> None:
    assert found.dtype == expected.dtype == np.int32
    assert found.shape == expected.shape
    np.testing.assert_array_equal(found, expected)


@pytest.mark.parametrize("dense_cells", [1 << 40, 0], ids=["dense", "sparse"])
@pytest.mark.parametrize("seed", range(40))
def test_coclick_and_second_source_match_the_reference(
    seed: int, dense_cells: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(neighbour_lists, "DENSE_CELLS", dense_cells)
    monkeypatch.setattr(neighbour_lists, "DENSE_CELLS_PER_PAIR", dense_cells)
    rng = np.random.default_rng(seed)
    n_items = int(rng.choice([3, 10, 50, 200]))
    table = _random_table(rng, n_items, int(rng.choice([1, 5, 30])))
    users = int(rng.choice([0, 1, 2, 16, 64]))
    history = _random_history(rng, users, n_items)
    popular = rng.permutation(n_items * 2)[: int(rng.choice([0, 5, 50, 400]))]
    for count in (0, 1, 5, 50, 500):
        _assert_same(
            coclick_candidates(table, history, count), _reference_coclick(table, history, count)
        )
        _assert_same(
            second_source(table, popular, history, count),
            _reference_second_source(table, popular, history, count),
        )


@pytest.mark.parametrize("seed", range(40))
def test_merge_matches_the_reference(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    n_items = int(rng.choice([5, 30, 1000]))
    users = int(rng.choice([0, 1, 3, 64]))
    tower = _random_ids(rng, users, int(rng.choice([0, 1, 10, 100])), n_items)
    extra = _random_ids(rng, users, int(rng.choice([0, 1, 10, 100])), n_items)
    excluded: list[Any] = []
    for _ in range(users):
        skip = rng.integers(-2, n_items * 2, size=int(rng.choice([0, 2, 30, 200])))
        kind = rng.integers(4)
        excluded.append(
            [skip, skip.tolist(), set(skip.tolist()), np.append(skip, [2**40, -(2**40)])][kind]
        )
    for share in SHARES:
        for k in (0, 1, 10, 100, 300):
            _assert_same(
                merge_candidates(tower, extra, excluded, k, share),
                _reference_merge(tower, extra, excluded, k, share),
            )


def test_second_source_on_the_table_of_an_empty_build() -> None:
    empty = NeighbourTable.from_columns([], [], [])
    history: list[Any] = [[1, 2], []]
    _assert_same(
        second_source(empty, [3, 1, 4], history, 4),
        _reference_second_source(empty, [3, 1, 4], history, 4),
    )


@pytest.mark.parametrize("dense_cells", [1 << 40, 0], ids=["dense", "sparse"])
def test_a_larger_batch_with_many_neighbours_matches_the_reference(
    dense_cells: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(neighbour_lists, "DENSE_CELLS", dense_cells)
    monkeypatch.setattr(neighbour_lists, "DENSE_CELLS_PER_PAIR", dense_cells)
    rng = np.random.default_rng(7)
    table = _random_table(rng, 2000, 50)
    history = [rng.integers(0, 4000, size=60) for _ in range(64)]
    popular = rng.permutation(4000)[:200]
    second = second_source(table, popular, history, 100)
    _assert_same(second, _reference_second_source(table, popular, history, 100))
    tower = _random_ids(rng, 64, 100, 2000)
    excluded = [np.append(past, [5, 6]) for past in history]
    _assert_same(
        merge_candidates(tower, second, excluded, 100, 0.5),
        _reference_merge(tower, second, excluded, 100, 0.5),
    )
