"""The candidate merge and the second candidate source (pure numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from services.ensemble.candidates import (
    NeighbourTable,
    coclick_candidates,
    merge_candidates,
    second_source,
)


def test_merge_interleaves_by_rank_without_repeats_or_excluded() -> None:
    tower = np.array([[10, 11, 12, 13]], dtype=np.int32)
    extra = np.array([[20, 11, 21, 22]], dtype=np.int32)
    merged = merge_candidates(tower, extra, [[12]], k=6)
    assert merged.dtype == np.int32
    assert merged.tolist() == [[10, 20, 11, 21, 13, 22]]


def test_merge_share_one_is_tower_then_the_rest() -> None:
    tower = np.array([[1, 2, -1]], dtype=np.int32)
    extra = np.array([[3, 1, 4]], dtype=np.int32)
    assert merge_candidates(tower, extra, [set()], k=4, tower_share=1.0).tolist() == [[1, 2, 3, 4]]
    assert merge_candidates(tower, extra, [[]], k=4, tower_share=0.0).tolist() == [[3, 1, 4, 2]]


def test_merge_pads_only_when_nothing_is_left() -> None:
    tower = np.array([[5, 6], [7, -1]], dtype=np.int32)
    extra = np.array([[6, 8], [-1, -1]], dtype=np.int32)
    merged = merge_candidates(tower, extra, [np.array([8]), np.array([], dtype=np.int64)], k=4)
    assert merged.tolist() == [[5, 6, -1, -1], [7, -1, -1, -1]]


def test_merge_rejects_mismatched_rows() -> None:
    with pytest.raises(ValueError):
        merge_candidates(np.zeros((2, 3)), np.zeros((1, 3)), [[], []], k=3)
    with pytest.raises(ValueError):
        merge_candidates(np.zeros((2, 3)), np.zeros((2, 3)), [[]], k=3)


def test_merge_is_deterministic_and_distinct_on_random_lists() -> None:
    rng = np.random.default_rng(0)
    tower = rng.integers(0, 50, (30, 20)).astype(np.int32)
    extra = rng.integers(0, 50, (30, 20)).astype(np.int32)
    excluded = [rng.integers(0, 50, 5) for _ in range(30)]
    first = merge_candidates(tower, extra, excluded, k=15, tower_share=0.3)
    assert (first == merge_candidates(tower, extra, excluded, k=15, tower_share=0.3)).all()
    for row, skip in zip(first, excluded, strict=True):
        kept = row[row >= 0]
        assert len(set(kept.tolist())) == len(kept)
        assert not set(kept.tolist()) & set(skip.tolist())
        assert (row[len(kept) :] == -1).all()


def table() -> NeighbourTable:
    return NeighbourTable.from_columns(
        item_id=[1, 1, 2, 2, 3],
        neighbour_id=[2, 3, 1, 4, 4],
        score=[0.5, 0.9, 0.5, 0.2, 0.7],
    )


def test_coclick_sums_scores_over_the_history_and_skips_it() -> None:
    found = coclick_candidates(table(), [[1, 3], [2], [99], []], count=3)
    # user 0: 2 (0.5), 4 (0.7), 3 excluded -> 4, 2; user 1: 1 (0.5), 4 (0.2)
    assert found.tolist() == [[4, 2, -1], [1, 4, -1], [-1, -1, -1], [-1, -1, -1]]


def test_second_source_fills_with_popular_unseen_items() -> None:
    found = second_source(table(), popular_ids=[4, 1, 7, 8], history=[[2], []], count=4)
    assert found.tolist() == [[1, 4, 7, 8], [4, 1, 7, 8]]


def test_item_item_list_comes_first_when_named_and_respects_the_excluded_items() -> None:
    from services.ensemble.candidates import ItemItemInput, NeighbourTable, second_source

    coclick = NeighbourTable.from_columns([1], [7], [1.0])
    weights = NeighbourTable.from_columns([1, 1, 1], [4, 5, 6], [0.9, 0.8, 0.7])
    history = [np.array([1])]
    lists = second_source(
        coclick,
        np.array([9, 8]),
        history,
        4,
        order=("itemitem", "coclick", "popular_items"),
        itemitem=ItemItemInput(weights, history),
        excluded=[np.array([1, 5])],
    )
    assert lists.tolist() == [[4, 6, 7, 9]]


def test_neighbour_scores_sum_each_candidates_weights_over_the_history() -> None:
    from services.ensemble.candidates import NeighbourTable, neighbour_scores

    rng = np.random.default_rng(0)
    dense = rng.normal(size=(30, 30)).astype(np.float32)
    ids = np.arange(100, 130)
    rows, cols = np.nonzero(np.ones_like(dense))
    table = NeighbourTable.from_columns(ids[rows], ids[cols], dense[rows, cols])
    history = [rng.choice(ids, 5, replace=False) for _ in range(7)]
    candidates = rng.choice(ids, (7, 6))
    expected = np.array(
        [
            [dense[np.searchsorted(ids, h), c - 100].sum() for c in row]
            for h, row in zip(history, candidates, strict=False)
        ]
    )
    assert np.allclose(neighbour_scores(table, history, candidates), expected, atol=1e-5)
