"""The ceiling's user estimate: MAP logistic regression recovers a user's taste from their
impressions when the items are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.data import generators
from training.data.truth import ClickTruth
from training.evaluation.ceiling import Prior, expected_logit, main, map_users, recalls

PRIOR = Prior(taste_sd=1.0, bias_mean=-1.0, bias_sd=0.5, position_effect=0.25)


def world(impressions: int) -> tuple[ClickTruth, pd.DataFrame]:
    rng = np.random.default_rng(3)
    truth = ClickTruth(
        user_ids=np.array([10, 20]),
        item_ids=np.arange(100, 160),
        user_vecs=rng.normal(0.0, 1.0, (2, 4)),
        item_vecs=rng.normal(0.0, 1.0, (60, 4)),
        user_bias=np.array([-1.0, -0.5]),
        item_bias=rng.normal(0.0, 0.3, 60),
    )
    users = rng.choice(truth.user_ids, impressions)
    items = rng.choice(truth.item_ids, impressions)
    position = rng.integers(0, 3, impressions)
    p = truth.probability(users, items)
    logit = np.log(p / (1 - p)) - PRIOR.position_effect * position
    click = (rng.random(impressions) < 1 / (1 + np.exp(-logit))).astype(int)
    rows = pd.DataFrame({"user_id": users, "item_id": items, "position": position, "click": click})
    return truth, rows


def test_many_impressions_recover_each_users_taste_and_bias() -> None:
    truth, rows = world(8_000)
    taste, bias = map_users(truth, rows, PRIOR)
    for user in range(2):
        cosine = taste[user] @ truth.user_vecs[user]
        cosine /= np.linalg.norm(taste[user]) * np.linalg.norm(truth.user_vecs[user])
        assert cosine > 0.95
    np.testing.assert_allclose(bias, truth.user_bias, atol=0.25)


def test_a_user_without_impressions_keeps_the_prior_mean() -> None:
    truth, rows = world(500)
    taste, bias = map_users(truth, rows[rows["user_id"] == 10], PRIOR)
    np.testing.assert_array_equal(taste[1], np.zeros(4))
    assert bias[1] == PRIOR.bias_mean


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--rows", "10"], "--rows must be at least 1000"), (["--seed", "-1"], "--seed must be >= 0")],
)
def test_the_command_refuses_bad_numbers_in_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_the_expected_probability_averages_over_the_hidden_taste() -> None:
    truth, _ = world(10)
    visible = 0.5 * truth.user_vecs
    users = np.array([0, 1, 1])
    items = np.array([3, 7, 40])
    logit = expected_logit(truth, visible, 0.8, users, items)
    hidden = np.random.default_rng(0).normal(0.0, 0.8, (200_000, 4))
    for user, item, got in zip(users, items, logit, strict=True):
        mean = visible[user] @ truth.item_vecs[item] + truth.user_bias[user] + truth.item_bias[item]
        sampled = 1.0 / (1.0 + np.exp(-(mean + hidden @ truth.item_vecs[item])))
        assert abs(1.0 / (1.0 + np.exp(-got)) - sampled.mean()) < 0.01
    matrix = expected_logit(truth, visible, 0.8, users)
    np.testing.assert_allclose(matrix[np.arange(3), items], logit)
    exact = expected_logit(truth, truth.user_vecs, 0.0, users)
    p = truth.probability(truth.user_ids[users][:, None], truth.item_ids)
    np.testing.assert_allclose(exact, np.log(p / (1 - p)))


def test_the_recall_ceilings_order_baseline_below_model_below_truth() -> None:
    made = generators.generate("longtail", 20_000, seed=3, valid_share=0.3)
    found = recalls(made, hidden_sd=0.3)
    assert list(found) == [
        "most_clicked_recall@100",
        "all_but_hidden_taste_recall@100",
        "exposure_x_truth_recall@100",
    ]
    values = list(found.values())
    assert 0.2 < values[0] < values[1] < values[2] < 1.0


def test_recall_ceilings_need_a_generator_that_reports_its_exposure() -> None:
    with pytest.raises(ValueError, match="exposure"):
        recalls(generators.generate("planted", 2_000, seed=3, valid_share=0.3), hidden_sd=0.3)
