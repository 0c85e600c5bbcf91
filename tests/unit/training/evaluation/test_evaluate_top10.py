"""The served top-10's measures and warnings."""

from __future__ import annotations

import numpy as np
import pytest

from training.evaluation.evaluate_top10 import dense_top, warnings
from training.evaluation.top10_metrics import list_metrics


def test_recall_ndcg_and_hit_of_hand_made_lists() -> None:
    lists = np.array([[7, 8, 9], [1, 2, 3], [4, 5, 6]])
    rows = np.array([0, 0, 1, 1])  # user 0 wants 8 and 40; user 1 wants 5 and 6; row 2 none
    items = np.array([8, 40, 5, 6])
    values = list_metrics(lists, rows, items, k=3)
    assert values["recall_at_10"] == pytest.approx((1 / 2 + 0) / 2)
    ideal = 1 + 1 / np.log2(3)
    assert values["ndcg_at_10"] == pytest.approx((1 / np.log2(3) / ideal + 0) / 2)
    assert values["hit_at_10"] == pytest.approx(0.5)


def test_recall_divides_by_at_most_k_targets() -> None:
    values = list_metrics(np.array([[1, 2]]), np.zeros(5, np.int64), np.array([1, 2, 3, 4, 5]), k=2)
    assert values["recall_at_10"] == pytest.approx(1.0)


def test_dense_top_never_gives_an_excluded_item() -> None:
    b = np.array([[0.0, 0.9, 0.1], [0.9, 0.0, 0.5], [0.1, 0.5, 0.0]], np.float32)
    ids = np.array([10, 20, 30])
    top = dense_top(ids, b, [np.array([10])], [np.array([10, 20])], k=3)
    assert top.tolist() == [[30, -1, -1]]


def test_a_baseline_above_the_served_list_is_a_warning() -> None:
    values = {
        "served_ndcg_at_10": 0.10,
        "ease_ndcg_at_10": 0.12,
        "served_recall_at_10": 0.2,
        "ease_recall_at_10": 0.1,
        "most_clicked_ndcg_at_10": 0.05,
    }
    lines = warnings(values)
    assert lines == ["warning: the served top-10's ndcg_at_10 0.1000 is below ease 0.1200"]


def test_an_impression_log_is_warned_on_its_debiased_measures() -> None:
    values = {
        "log": "impressions",
        "served_ndcg_at_10": 0.10,
        "segment_popular_ndcg_at_10": 0.20,
        "served_debiased_ndcg_at_10": 0.010,
        "segment_popular_debiased_ndcg_at_10": 0.008,
        "served_debiased_recall_at_10": 0.02,
        "dlrm_order_debiased_recall_at_10": 0.03,
    }
    assert warnings(values) == [
        "warning: the served top-10's debiased_recall_at_10 0.0200 is below dlrm_order 0.0300"
    ]
