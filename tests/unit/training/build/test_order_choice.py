"""The build's choice of filter and weights, on held-out train rows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from services.ensemble.final_score import ScoreWeights
from training.build import itemitem, order_choice
from training.build.choice_split import ChoiceSplit


def test_ascent_takes_only_allowed_weights_that_gain_enough() -> None:
    def measure(weights: ScoreWeights) -> float:
        return weights.ranking + 2 * weights.itemitem - weights.popularity

    start = ScoreWeights()
    weights, score = order_choice.ascend(start, measure(start), measure)
    assert weights.itemitem == 1.0 and weights.popularity == 0.0 and score == 3.0
    capped, _ = order_choice.ascend(start, 1.0, measure, lambda w, _: w.itemitem <= 0.5)
    assert capped.itemitem == 0.5


def world(repeat_shown: bool, seed: int = 0) -> ChoiceSplit:
    """Users in two taste groups clicking within their group's items. Consumption: each item
    once per user, so the held-out clicks are on items never shown before. Impressions: the
    held-out clicks are on items shown (and not clicked) before."""
    rng = np.random.default_rng(seed)
    fit, held = [], []
    for user in range(120):
        group = np.arange(20) + 20 * (user % 2)
        picked = rng.choice(group, 12, replace=False)
        for item in picked[:8]:
            fit.append((user, item, 1))
        for item in picked[8:10]:
            fit.append((user, item, 0))
        for item in picked[10:] if not repeat_shown else picked[8:10]:
            held.append((user, item, 1))
    columns = ["user_id_raw", "item_id_raw", "click"]
    return ChoiceSplit(pd.DataFrame(fit, columns=columns), pd.DataFrame(held, columns=columns))


def test_a_consumption_log_removes_shown_items_an_impression_log_keeps_them() -> None:
    config = itemitem.ItemItemConfig(l2=5.0)
    consumption, table, (ids, b) = order_choice.choose_filter(world(repeat_shown=False), config)
    assert consumption.exclude == "shown"
    assert len(table) > 0 and b.shape == (len(ids), len(ids))
    impressions, _, _ = order_choice.choose_filter(world(repeat_shown=True), config)
    assert impressions.exclude == "clicks"
    assert set(impressions.ndcg) == {"clicks/clicks", "shown/clicks", "clicks/shown", "shown/shown"}
    assert not consumption.impression_log and impressions.impression_log
    assert consumption.repeated_pairs == 0.0


def test_a_log_that_shows_items_again_is_an_impression_log_whatever_the_filter() -> None:
    """A large catalogue makes shown items rarely clicked later, so removing them can win the
    filter choice on an impression log too; its repeated impressions still say what it is."""
    split = world(repeat_shown=False)
    once = split.fit
    again = pd.concat([once, once.iloc[:3]], ignore_index=True)  # 3 repeats in 963 rows
    config = itemitem.ItemItemConfig(l2=5.0)
    choice, _, _ = order_choice.choose_filter(ChoiceSplit(again, split.held), config)
    assert choice.exclude == "shown" and choice.repeated_pairs == 3 / len(again)
    assert choice.impression_log and choice.as_dict()["log"] == "impressions"
    rare = dataclasses.replace(
        choice, repeated_pairs=order_choice.REPEATED_PAIRS_OF_IMPRESSIONS / 2
    )
    assert not rare.impression_log and rare.as_dict()["log"] == "consumption"


def test_a_gain_spread_over_users_beats_the_noise_one_users_luck_does_not() -> None:
    users = np.arange(100)
    spread = np.full(100, 0.01)
    lucky = np.zeros(100)
    lucky[7] = 1.0  # the same total gain, from one user
    assert order_choice.gain_beyond_noise(spread + np.linspace(-0.005, 0.005, 100), users)
    assert not order_choice.gain_beyond_noise(lucky, users)
    assert not order_choice.gain_beyond_noise(-spread, users)
