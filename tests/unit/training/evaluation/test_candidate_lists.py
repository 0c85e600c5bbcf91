"""The Two-Tower's offline top lists, as serving's retrieval over-fetches them."""

from __future__ import annotations

import numpy as np

from training.evaluation import candidate_lists


def random_scores(rows: int, items: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((rows, items)).astype(np.float32)


def test_each_row_lists_its_best_items_best_first() -> None:
    scores = random_scores(7, 50)
    item_ids = np.arange(50, dtype=np.int32) * 10
    best = candidate_lists._best_first(scores, item_ids, width=5)
    expected = item_ids[np.argsort(-scores, axis=1, kind="stable")[:, :5]]
    np.testing.assert_array_equal(best, expected)


def test_ranking_a_few_rows_at_a_time_gives_the_same_lists() -> None:
    scores = random_scores(101, 300)
    item_ids = np.arange(300, dtype=np.int32)
    at_once = candidate_lists._best_first(scores, item_ids, width=20, entries=101 * 300)
    by_rows = candidate_lists._best_first(scores, item_ids, width=20, entries=1_000)  # 3 rows
    one_row = candidate_lists._best_first(scores, item_ids, width=20, entries=1)
    np.testing.assert_array_equal(at_once, by_rows)
    np.testing.assert_array_equal(at_once, one_row)


def test_the_tower_top_is_as_wide_as_k_plus_the_longest_history() -> None:
    rng = np.random.default_rng(1)
    queries = rng.standard_normal((4, 8)).astype(np.float32)
    items = rng.standard_normal((40, 8)).astype(np.float32)
    item_ids = np.arange(40, dtype=np.int32) + 100
    history = [np.array([100, 101]), np.array([], dtype=np.int32), np.array([102]), np.array([])]
    top = candidate_lists.tower_top(queries, items, item_ids, history, k=10, chunk=3)
    assert top.shape == (4, 12)
    expected = item_ids[np.argsort(-(queries @ items.T), axis=1, kind="stable")[:, :12]]
    np.testing.assert_array_equal(top, expected)
