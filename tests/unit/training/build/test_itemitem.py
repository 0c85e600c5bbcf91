"""EASE, the build's item-item model: its closed form, its cover, its pruned served table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from services.ensemble.candidates import neighbour_scores
from training.build import itemitem
from training.evaluation.evaluate_top10 import dense_top


def pairs(rows: list[tuple[int, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id"])


CLICKS = pairs(
    [(1, 10), (1, 11), (2, 10), (2, 11), (2, 12), (3, 11), (3, 12), (4, 12), (4, 13), (4, 10)]
)


def test_weights_are_steck_closed_form_with_a_zero_diagonal() -> None:
    config = itemitem.ItemItemConfig(l2=2.0)
    ids, b = itemitem.weights(CLICKS, config)
    assert ids.tolist() == [10, 11, 12, 13]
    x = np.zeros((4, 4))
    for user, item in CLICKS.itertuples(index=False):
        x[user - 1, item - 10] = 1.0
    p = np.linalg.inv(x.T @ x + 2.0 * np.eye(4))
    expected = np.eye(4) - p / np.diag(p)
    assert np.allclose(b, expected, atol=1e-6)
    assert np.all(np.diag(b) == 0.0)


def test_repeated_pairs_count_once_and_the_cover_is_the_items_with_most_users() -> None:
    repeated = pd.concat([CLICKS, CLICKS.iloc[:3]])
    assert np.allclose(
        itemitem.weights(repeated, itemitem.ItemItemConfig())[1],
        itemitem.weights(CLICKS, itemitem.ItemItemConfig())[1],
    )
    ids, b = itemitem.weights(CLICKS, itemitem.ItemItemConfig(max_items=3))
    assert ids.tolist() == [10, 11, 12]  # three users each; 13 has one
    assert b.shape == (3, 3)
    ids, _ = itemitem.weights(CLICKS, itemitem.ItemItemConfig(max_items=2))
    assert ids.tolist() == [10, 11]  # ties: the smaller ids


def test_the_served_table_keeps_the_largest_weights_and_scores_as_the_dense_model() -> None:
    config = itemitem.ItemItemConfig(l2=1.0, neighbours=3)
    ids, b = itemitem.weights(CLICKS, config)
    frame = itemitem.as_frame(ids, b, config.neighbours)
    assert (frame["score"] != 0).all()
    assert frame.groupby("item_id").size().max() <= 3
    table = itemitem.as_table(frame)
    history = [np.array([10]), np.array([11, 13])]
    candidates = np.array([[11, 12, 13], [10, 12, -1]])
    dense = np.array([[b[0, 1], b[0, 2], b[0, 3]], [b[1, 0] + b[3, 0], b[1, 2] + b[3, 2], 0.0]])
    assert np.allclose(neighbour_scores(table, history, candidates), dense, atol=1e-6)
    top = dense_top(ids, b, history, history, k=2)
    assert top[0, 0] == ids[1 + int(np.argmax(b[0, 1:]))]


def test_the_dense_part_reads_every_weight_and_skips_uncovered_items(tmp_path: Path) -> None:
    from services.ensemble.final_score import DenseItemItem

    ids, b = itemitem.weights(CLICKS, itemitem.ItemItemConfig(l2=1.0))
    itemitem.save_dense(tmp_path / "w.npz", ids, b)
    with np.load(tmp_path / "w.npz") as saved:
        dense = DenseItemItem.of(saved["item_ids"], saved["weights"])
    history = [np.array([10, 99]), np.array([11, 13]), np.array([], np.int64)]
    candidates = np.array([[11, 12, 98], [10, 12, -1], [10, 11, 12]])
    expected = [
        [b[0, 1], b[0, 2], 0.0],
        [b[1, 0] + b[3, 0], b[1, 2] + b[3, 2], 0.0],
        [0.0, 0.0, 0.0],
    ]
    assert np.allclose(dense.scores(history, candidates), expected, atol=1e-6)


def test_pruning_drops_the_smallest_weights_negative_ones_included() -> None:
    b = np.array([[0.0, 0.5, -0.9, 0.1], [0.2, 0.0, 0.0, 0.0], [0, 0, 0, 0], [0, 0, 0, 0]])
    frame = itemitem.as_frame(np.array([1, 2, 3, 4]), b.astype(np.float32), 2)
    first = frame[frame["item_id"] == 1]
    assert first["neighbour_id"].tolist() == [2, 3]  # 0.5 and -0.9 kept, 0.1 dropped
    assert frame[frame["item_id"] == 2]["neighbour_id"].tolist() == [1]  # zeros dropped


def test_the_input_is_the_clicks_or_every_shown_item() -> None:
    rows = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [5, 6, 5], "click": [1, 0, 0]})
    assert itemitem.pairs_of(rows, "clicks").values.tolist() == [[1, 5]]
    assert len(itemitem.pairs_of(rows, "shown")) == 3
    with pytest.raises(ValueError, match="item-item input"):
        itemitem.pairs_of(rows, "views")
