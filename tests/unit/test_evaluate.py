"""The evaluation table's pieces on small hand-made inputs (no models)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training import coclick, evaluate


def test_ranking_table_puts_the_model_beside_its_baselines() -> None:
    train = pd.DataFrame({"item_id": [1, 1, 2, 2, 3], "click": [1, 1, 0, 1, 0]})
    valid = pd.DataFrame({"item_id": [1, 2, 3, 3], "click": [1, 0, 1, 0]})
    table = evaluate.ranking_table(train, valid, np.array([0.9, 0.1, 0.8, 0.2]))
    assert table["dlrm_auc"] == 1.0
    assert table["item_ctr_auc"] == pytest.approx(0.625)  # 1.0, 0.5, 0, 0
    assert table["valid_rows"] == 4


def test_retrieval_table_counts_only_new_clicks_and_excludes_history() -> None:
    items = np.array([10, 11, 12, 13], dtype=np.int32)
    vectors = np.eye(4, dtype=np.float32)
    history = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 11, 12]})
    targets = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 13, 11]})  # (1, 10) is old
    inputs = evaluate.RetrievalInputs(
        user_ids=np.array([1, 2]),
        query_vectors=np.array([[1, 0.9, 0, 0.1], [0, 0, 1, 0.5]], dtype=np.float32),
        item_ids=items,
        item_vectors=vectors,
        history=history,
        targets=targets,
        popular_ids=np.array([10, 11, 12, 13]),
        coclick=coclick.as_table(coclick.table(history)),
    )
    table = evaluate.retrieval_table(inputs, k=1)
    assert table["valid_clicks"] == 2
    # user 1: tower's best unseen is 13 (hit); user 2: 13 again (miss, target 11)
    assert table["tower_recall_at_100"] == 0.5
    # most clicked unseen: user 1 -> 12 (miss), user 2 -> 10 (miss)
    assert table["most_clicked_recall_at_100"] == 0.0
    assert table["random_recall_at_100"] == pytest.approx((1 / 2 + 1 / 3) / 2)


def test_segment_popular_is_the_most_clicked_among_users_alike() -> None:
    history = pd.DataFrame({"user_id": [1, 2, 2, 3, 3, 4], "item_id": [10, 11, 12, 12, 13, 10]})
    segments = pd.Series(["a", "a", "b", "b", "c"], index=[1, 2, 3, 4, 5])
    lists = evaluate.segment_popular(history, segments, np.array([1, 3, 5, 9]), width=3)
    # segment a: 10, 11, 12 once each (ties: smaller id); b: 10, 12, 13 once each
    assert lists.tolist() == [[10, 11, 12], [10, 12, 13], [-1, -1, -1], [-1, -1, -1]]


def test_the_retrieval_table_has_the_segment_baseline_and_warns_below_it() -> None:
    history = pd.DataFrame({"user_id": [1, 2, 3], "item_id": [10, 11, 12]})
    targets = pd.DataFrame({"user_id": [1], "item_id": [11]})  # user 2, alike, clicked 11
    inputs = evaluate.RetrievalInputs(
        user_ids=np.array([1]),
        query_vectors=np.array([[0, 0, 1, 0]], dtype=np.float32),  # the tower prefers 12
        item_ids=np.array([10, 11, 12, 13], dtype=np.int32),
        item_vectors=np.eye(4, dtype=np.float32),
        history=history,
        targets=targets,
        popular_ids=np.array([12, 13, 10, 11]),
        coclick=coclick.as_table(coclick.table(history)),
        segments=pd.Series(["a", "a", "b"], index=[1, 2, 3]),
    )
    table = evaluate.retrieval_table(inputs, k=1)
    assert table["segment_popular_recall_at_100"] == 1.0
    assert table["tower_recall_at_100"] == table["most_clicked_recall_at_100"] == 0.0
    lines = evaluate.warnings({"retrieval": table})
    assert (
        "warning: tower_recall_at_100 0.0000 is below segment_popular_recall_at_100 1.0000" in lines
    )


def test_warnings_name_models_below_baselines() -> None:
    table = {
        "ranking": {"dlrm_auc": 0.6, "item_ctr_auc": 0.7, "most_clicked_auc": 0.5},
        "retrieval": {"merged_recall_at_100": 0.3, "most_clicked_recall_at_100": 0.2},
    }
    assert evaluate.warnings(table) == ["warning: dlrm_auc 0.6000 is below item_ctr_auc 0.7000"]
    assert "warning: dlrm_auc" in evaluate.format_table(table)


def test_coclick_table_is_cosine_of_user_sets() -> None:
    pairs = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": [5, 6, 5, 6, 5]})
    table = coclick.table(pairs).set_index(["item_id", "neighbour_id"])["score"]
    assert table[(5, 6)] == pytest.approx(2 / np.sqrt(3 * 2))
    assert table[(6, 5)] == pytest.approx(table[(5, 6)])
    assert coclick.table(pairs.iloc[:0]).empty
