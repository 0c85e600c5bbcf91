"""The candidate merge and the second candidate source (pure numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from services.ensemble.candidates import (
    CoClickTable,
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


def table() -> CoClickTable:
    return CoClickTable.from_columns(
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
