"""OrderByScore and the rules file: their logic on hand-made columns (no servers)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from services.ensemble.graph import order_inputs
from services.ensemble.rules import Rules
from services.ensemble.stages import OrderByScore
from services.ensemble.stages.order_by_score import PopularItems

POPULAR = np.array([900, 901, 902, 903, 904], dtype=np.int32)
INPUTS = order_inputs("past_ids")


def order(
    scores: np.ndarray,
    found_users: list[bool],
    topk: int = 3,
    temperature: float = 0.0,
    categories: np.ndarray | None = None,
    seen: np.ndarray | None = None,
    rules: Rules | None = None,
    popular: PopularItems | None = None,
) -> dict[str, Any]:
    op = OrderByScore(None, topk, INPUTS, temperature, rules)
    op._state = popular or PopularItems(POPULAR)
    users = len(found_users)
    candidates = np.tile(np.arange(10, 10 + scores.shape[1], dtype=np.int32), (users, 1))
    if categories is None:
        categories = np.arange(scores.size)
    if seen is None:
        seen = np.full((users, 1), -1, dtype=np.int32)
    return op.run(
        {
            "candidate_ids": candidates,
            "final_score": scores.reshape(-1),
            "item_found": np.ones(scores.size, dtype=bool),
            "item_category": categories.reshape(-1),
            "user_found": np.array(found_users),
            "past_ids": seen,
        }
    )


def test_deterministic_order_is_by_descending_score() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.7, 0.2]], dtype=np.float32)
    out = order(scores, [True])
    assert out["ordered_ids"].tolist() == [[11, 13, 12]]
    assert out["ordered_scores"].tolist() == [pytest.approx([0.9, 0.7, 0.5])]
    assert out["fallback"].tolist() == [False]


def test_items_without_features_rank_last() -> None:
    op = OrderByScore(None, 2, INPUTS, 0.0)
    op._state = PopularItems(POPULAR)
    out = op.run(
        {
            "candidate_ids": np.array([[10, 11, 12]], dtype=np.int32),
            "final_score": np.array([0.9, 0.5, 0.1], dtype=np.float32),
            "item_found": np.array([False, True, True]),
            "item_category": np.array([1, 2, 3]),
            "user_found": np.array([True]),
            "past_ids": np.array([[-1]], dtype=np.int32),
        }
    )
    assert out["ordered_ids"].tolist() == [[11, 12]]


def test_unknown_users_get_popular_items_they_have_not_had() -> None:
    scores = np.array([[0.1, 0.9, 0.5], [0.3, 0.2, 0.1]], dtype=np.float32)
    seen = np.array([[-1, -1], [901, -1]], dtype=np.int32)
    out = order(scores, [True, False], seen=seen, rules=Rules(frozenset({903})))
    assert out["ordered_ids"][1].tolist() == [900, 902, 904]
    assert out["fallback"].tolist() == [False, True]


def test_category_cap_holds_and_keeps_the_best_of_each_category() -> None:
    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.5, 0.4]], dtype=np.float32)
    categories = np.array([1, 1, 1, 2, 2, 3])
    out = order(scores, [True], topk=4, categories=categories, rules=Rules(max_per_category=2))
    assert out["ordered_ids"].tolist() == [[10, 11, 13, 14]]
    assert (np.diff(out["ordered_scores"][0]) <= 0).all()


def capped(popular: PopularItems, seen: int = -1, denied: frozenset[int] = frozenset()) -> Any:
    """Candidates 10-13 of two categories (1, 1, 2, 2): at 1 per category they fill only 2 of
    4 places."""
    return order(
        np.array([[0.9, 0.8, 0.7, 0.6]], dtype=np.float32),
        [True],
        topk=4,
        categories=np.array([1, 1, 2, 2]),
        seen=np.array([[seen]], dtype=np.int32),
        rules=Rules(denied, max_per_category=1),
        popular=popular,
    )


def test_a_capped_answer_is_filled_with_popular_items_of_other_categories() -> None:
    out = capped(PopularItems(POPULAR, np.array([3, 4, 5, 6, 7])))
    assert out["ordered_ids"][0].tolist() == [10, 12, 900, 901]
    assert out["ordered_scores"][0].tolist() == pytest.approx([0.9, 0.7, 0.0, 0.0])


def test_the_fill_skips_seen_denied_and_full_categories_then_the_cap_relaxes() -> None:
    """900 and 902 are of the full category 1, 901 is denied, 903 seen: only 904 fills, and
    the best candidate passed over (11) takes the last place."""
    out = capped(PopularItems(POPULAR, np.array([1, 5, 1, 6, 7])), 903, frozenset({901}))
    assert out["ordered_ids"][0].tolist() == [10, 11, 12, 904]
    assert out["ordered_scores"][0].tolist() == pytest.approx([0.9, 0.8, 0.7, 0.0])


def test_without_the_popular_items_categories_the_cap_relaxes_as_before() -> None:
    out = capped(PopularItems(POPULAR))
    assert out["ordered_ids"][0].tolist() == [10, 11, 12, 13]


def test_category_cap_is_relaxed_only_when_it_cannot_fill_the_list() -> None:
    scores = np.array([[0.9, 0.8, 0.7, 0.6]], dtype=np.float32)
    out = order(
        scores, [True], topk=3, categories=np.array([1, 1, 1, 2]), rules=Rules(max_per_category=1)
    )
    assert sorted(out["ordered_ids"][0].tolist()) == [10, 11, 13]


def test_low_temperature_keeps_the_score_order_high_temperature_shuffles() -> None:
    scores = np.linspace(1.0, 0.0, 20, dtype=np.float32)[None, :]
    cold = [
        order(scores, [True], topk=5, temperature=1e-4)["ordered_ids"][0].tolist()
        for _ in range(20)
    ]
    assert all(result == list(range(10, 15)) for result in cold)
    hot = {
        tuple(order(scores, [True], topk=5, temperature=1e3)["ordered_ids"][0]) for _ in range(20)
    }
    assert len(hot) > 10


def test_negative_temperature_is_rejected() -> None:
    with pytest.raises(ValueError, match="temperature"):
        OrderByScore(None, 3, INPUTS, -1.0)


def test_rules_file_is_validated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    good = tmp_path / "rules.json"
    good.write_text('{"deny_items": [5, 7], "max_per_category": 2}')
    assert Rules.from_file(good) == Rules(frozenset({5, 7}), 2)
    for text in ('{"deny_items": "x"}', '{"max_per_category": -1}', '{"other": 1}', "not json"):
        good.write_text(text)
        with pytest.raises(ValueError, match="rules file"):
            Rules.from_file(good)
