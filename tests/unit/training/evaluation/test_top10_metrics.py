"""The debiased measures: each target click counted 1 / P(shown) times."""

from __future__ import annotations

import numpy as np
import pytest

from training.evaluation.top10_metrics import debiased_metrics, list_metrics


def test_a_click_on_a_rarely_shown_item_counts_more() -> None:
    lists = np.array([[7, 8], [1, 2]])
    rows = np.array([0, 1])
    items = np.array([8, 9])  # user 0's click is found at position 2; user 1's is missed
    rare_found = debiased_metrics(lists, rows, items, np.array([9.0, 1.0]), k=2)
    rare_missed = debiased_metrics(lists, rows, items, np.array([1.0, 9.0]), k=2)
    assert rare_found["debiased_recall_at_10"] == pytest.approx(0.9)
    assert rare_missed["debiased_recall_at_10"] == pytest.approx(0.1)
    assert rare_found["debiased_ndcg_at_10"] == pytest.approx(0.9 / np.log2(3))


def test_equal_weights_give_the_share_of_clicks_found() -> None:
    lists = np.array([[1, 2, 3]])
    rows = np.zeros(4, np.int64)
    items = np.array([1, 3, 5, 6])
    values = debiased_metrics(lists, rows, items, np.ones(4), k=3)
    assert values["debiased_recall_at_10"] == pytest.approx(0.5)
    assert list_metrics(lists, rows, items, k=3)["recall_at_10"] == pytest.approx(2 / 3)
