"""The exposure estimate: the item's share of impressions mixed with the user's category's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.evaluation import propensity


def _log() -> pd.DataFrame:
    # user 1 is shown category 10 (items 100 and 101), user 2 category 20 (item 200)
    rows = [(1, 100, 10)] * 6 + [(1, 101, 10)] * 2 + [(2, 200, 20)] * 8
    return pd.DataFrame(rows, columns=["user_id_raw", "item_id_raw", "item_category"])


def test_an_item_of_the_users_category_is_more_likely_shown_to_them() -> None:
    exposure = propensity.Exposure.of(_log())
    shown = exposure.probability(np.array([1, 2]), np.array([100, 100]))
    assert shown[0] > 1.5 * shown[1]


def test_within_a_category_the_more_shown_item_is_more_likely() -> None:
    exposure = propensity.Exposure.of(_log())
    shown = exposure.probability(np.array([1, 1]), np.array([100, 101]))
    assert shown[0] > shown[1]


def test_an_item_never_shown_and_an_unknown_user_get_a_small_positive_chance() -> None:
    exposure = propensity.Exposure.of(_log())
    shown = exposure.probability(np.array([1, 99]), np.array([999, 200]))
    assert np.all(shown > 0)
    assert shown[0] < exposure.probability(np.array([1]), np.array([101]))[0]
    # the unknown user: item 200's share (8 + 1) / (16 + 3), and category 20's share of the
    # log (0.5) as their own, times item 200's share of its category (1)
    assert shown[1] == pytest.approx(0.5 * 9 / 19 + 0.5 * 0.5)


def test_click_weights_are_the_inverse_chance() -> None:
    exposure = propensity.Exposure.of(_log())
    weights = propensity.click_weights(
        exposure, np.array([1, 2]), np.array([1, 0]), np.array([200, 100])
    )
    expected = 1.0 / exposure.probability(np.array([2, 1]), np.array([200, 100]))
    assert weights == pytest.approx(expected)
