"""OrderByScore: the ranking score decides the order; temperature means what it says."""

from __future__ import annotations

import numpy as np
import pytest

from services.ensemble.ops import OrderByScore

POPULAR = np.array([900, 901, 902, 903], dtype=np.int32)


def order(temperature: float, scores: np.ndarray, found_users: list[bool], topk: int = 3):  # type: ignore[no-untyped-def]
    op = OrderByScore(None, topk, temperature)
    op._state = POPULAR
    users = len(found_users)
    candidates = np.tile(np.arange(10, 10 + scores.shape[1], dtype=np.int32), (users, 1))
    return op.run(
        {
            "candidate_ids": candidates,
            "click_score": scores.reshape(-1),
            "item_found": np.ones(scores.size, dtype=bool),
            "user_found": np.array(found_users),
        }
    )


def test_deterministic_order_is_by_descending_score() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.7, 0.2]], dtype=np.float32)
    out = order(0.0, scores, [True])
    assert out["ordered_ids"].tolist() == [[11, 13, 12]]
    assert out["ordered_scores"].tolist() == [pytest.approx([0.9, 0.7, 0.5])]
    assert out["fallback"].tolist() == [False]


def test_items_without_features_rank_last() -> None:
    op = OrderByScore(None, 2, 0.0)
    op._state = POPULAR
    out = op.run(
        {
            "candidate_ids": np.array([[10, 11, 12]], dtype=np.int32),
            "click_score": np.array([0.9, 0.5, 0.1], dtype=np.float32),
            "item_found": np.array([False, True, True]),
            "user_found": np.array([True]),
        }
    )
    assert out["ordered_ids"].tolist() == [[11, 12]]


def test_unknown_users_get_popular_items_and_the_flag() -> None:
    scores = np.array([[0.1, 0.9, 0.5], [0.3, 0.2, 0.1]], dtype=np.float32)
    out = order(0.0, scores, [True, False])
    assert out["ordered_ids"][1].tolist() == POPULAR[:3].tolist()
    assert out["fallback"].tolist() == [False, True]


def test_low_temperature_keeps_the_score_order_high_temperature_shuffles() -> None:
    scores = np.linspace(1.0, 0.0, 20, dtype=np.float32)[None, :]
    cold = [order(1e-4, scores, [True], topk=5)["ordered_ids"][0].tolist() for _ in range(20)]
    assert all(result == list(range(10, 15)) for result in cold)
    hot = {tuple(order(1e3, scores, [True], topk=5)["ordered_ids"][0]) for _ in range(20)}
    assert len(hot) > 10


def test_negative_temperature_is_rejected() -> None:
    with pytest.raises(ValueError, match="temperature"):
        OrderByScore(None, 3, -1.0)
