"""The final score: weights, standardized parts, their sum, and the helpers serving and the
build's evaluation share."""

from __future__ import annotations

import numpy as np
import pytest

from services.ensemble.final_score import (
    PARTS,
    ItemLookup,
    OrderSettings,
    ScoreWeights,
    final_scores,
    inner_products,
    logit,
    reciprocal_ranks,
    standardized,
)


def test_weights_default_to_the_dlrm_alone_and_a_mapping_names_the_rest_zero() -> None:
    assert ScoreWeights().used() == ("ranking",)
    weights = ScoreWeights.from_dict({"itemitem": 1.0, "segment": 0.5})
    assert weights.used() == ("itemitem", "segment")
    assert weights.as_dict() == {
        "ranking": 0.0,
        "retrieval": 0.0,
        "itemitem": 1.0,
        "popularity": 0.0,
        "segment": 0.5,
    }
    assert set(weights.as_dict()) == set(PARTS)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"ranking": -1.0}, ">= 0"),
        ({"ranking": 0.0}, "not all 0"),
        ({"ranking": float("nan")}, "finite"),
        ({"novelty": 1.0}, "unknown score parts"),
    ],
)
def test_bad_weights_are_refused(values: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScoreWeights.from_dict(values)


def test_standardized_rows_have_mean_zero_and_deviation_one_over_their_valid_entries() -> None:
    values = np.array([[1.0, 2.0, 3.0, 100.0], [5.0, 5.0, 5.0, 5.0]])
    valid = np.array([[True, True, True, False], [True, True, True, True]])
    z = standardized(values, valid)
    assert z[0, :3].mean() == pytest.approx(0.0)
    assert z[0, :3].std() == pytest.approx(1.0)
    assert z[0, 3] == 0.0  # invalid: 0, and it did not move the row's mean
    assert z[1].tolist() == [0.0, 0.0, 0.0, 0.0]  # no variation: no say


def test_the_final_score_is_the_weighted_sum_and_invalid_candidates_rank_last() -> None:
    parts = {
        "ranking": np.array([[0.0, 1.0, 2.0]]),
        "itemitem": np.array([[3.0, 0.0, 0.0]]),
    }
    valid = np.array([[True, True, False]])
    weights = ScoreWeights(ranking=1.0, itemitem=2.0)
    scores = final_scores(parts, weights, valid)
    z = {name: standardized(values, valid) for name, values in parts.items()}
    assert scores[0, :2] == pytest.approx((z["ranking"] + 2 * z["itemitem"])[0, :2])
    assert scores[0, 2] == -np.inf
    assert np.argmax(scores[0]) == 0  # the item-item part outweighs the DLRM here


def test_the_dlrm_alone_orders_as_its_probabilities() -> None:
    probabilities = np.array([[0.2, 0.9, 0.5, 0.7]], np.float32)
    scores = final_scores({"ranking": logit(probabilities)}, ScoreWeights(), np.ones((1, 4), bool))
    assert np.argsort(-scores[0]).tolist() == np.argsort(-probabilities[0]).tolist()


def test_segment_ranks_read_each_rows_own_list() -> None:
    from services.ensemble.candidates import SegmentLists

    lists = SegmentLists.from_columns([7, 7, 7, 9, 9], [5, 3, 9, 2, 6])
    candidates = np.array([[9, 5, 7, -1], [2, 3, -1, 6], [5, 5, 5, 5]])
    ranks = lists.ranks_of(np.array([7, 9, 8]), candidates)  # segment 8: unknown
    assert ranks.tolist() == [[2, 0, -1, -1], [0, -1, -1, 1], [-1, -1, -1, -1]]
    parts = reciprocal_ranks(ranks, depth=2)
    assert np.allclose(parts, [[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.5], [0.0] * 4])


def test_item_lookup_and_inner_products() -> None:
    lookup = ItemLookup.of(np.array([30, 10, 20]))
    rows = lookup.find(np.array([[10, 40, -1, 30]]))
    assert rows.tolist() == [[1, -1, -1, 0]]
    vectors = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], np.float32)
    products = inner_products(np.array([[3.0, 1.0]], np.float32), vectors, rows)
    assert products.tolist() == [[2.0, 0.0, 0.0, 3.0]]


def test_order_settings_from_a_manifest() -> None:
    assert OrderSettings.from_dict(None) == OrderSettings()
    settings = OrderSettings.from_dict(
        {"exclude": "shown", "itemitem_input": "clicks", "weights": {"itemitem": 1}}
    )
    assert settings.reads_shown and settings.weights.used() == ("itemitem",)
    assert OrderSettings.from_dict(settings.as_dict()) == settings
    with pytest.raises(ValueError, match="ordering.exclude"):
        OrderSettings.from_dict({"exclude": "viewed"})
