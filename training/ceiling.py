"""How far a ranking model can get on a synthetic world, measured with the generator's truth.

Two AUCs on the valid split beside item CTR's:

* the truth itself (no model of the data can do better);
* **items known, users learnt**: every item's true vector and bias are given, and each user's
  taste and bias are estimated (MAP logistic regression, the generator's own prior) from that
  user's train impressions alone. This is what learning a user from their history can reach when
  the items are perfectly known: an upper bound for a model that must also learn the items.

`python -m training.ceiling --synthetic longtail --rows 50000 --seed 7`
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training import metrics, synthetic
from training.truth import ClickTruth

NEWTON_STEPS = 15
MIN_ROWS = 1_000


@dataclass(frozen=True)
class Prior:
    """The generator's prior on a user: taste ~ N(0, taste_sd^2) per dimension, bias ~
    N(bias_mean, bias_sd^2); `position_effect` is subtracted per page position."""

    taste_sd: float
    bias_mean: float
    bias_sd: float
    position_effect: float


def map_users(truth: ClickTruth, rows: pd.DataFrame, prior: Prior) -> tuple[np.ndarray, np.ndarray]:
    """(taste [users, dim], bias [users]) per row of `truth.user_ids`: the MAP estimate from
    `rows` (user_id, item_id, position, click), with the items' true vectors and biases."""
    users = np.searchsorted(truth.user_ids, rows["user_id"].to_numpy())
    items = np.searchsorted(truth.item_ids, rows["item_id"].to_numpy())
    features = np.hstack([truth.item_vecs[items], np.ones((len(rows), 1))])
    offset = truth.item_bias[items] - prior.position_effect * rows["position"].to_numpy()
    clicks = rows["click"].to_numpy().astype(float)
    dim = truth.item_vecs.shape[1]
    precision = np.diag(np.r_[np.full(dim, prior.taste_sd**-2), prior.bias_sd**-2])
    mean = np.r_[np.zeros(dim), prior.bias_mean]
    estimates = np.tile(mean, (len(truth.user_ids), 1))
    order = np.argsort(users, kind="stable")
    bounds = np.searchsorted(users[order], np.arange(len(truth.user_ids) + 1))
    for user in range(len(truth.user_ids)):
        mine = order[bounds[user] : bounds[user + 1]]
        if len(mine):
            estimates[user] = _newton(features[mine], offset[mine], clicks[mine], precision, mean)
    return estimates[:, :dim], estimates[:, dim]


def _newton(
    x: np.ndarray, offset: np.ndarray, y: np.ndarray, precision: np.ndarray, mean: np.ndarray
) -> np.ndarray:
    w = mean.copy()
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-(x @ w + offset)))
        gradient = x.T @ (p - y) + precision @ (w - mean)
        hessian = (x * (p * (1.0 - p))[:, None]).T @ x + precision
        w -= np.linalg.solve(hessian, gradient)
    return w


def aucs(made: synthetic.SyntheticData, prior: Prior) -> dict[str, float]:
    truth, valid = made.truth, made.valid
    clicks = valid["click"].to_numpy()
    user_ids, item_ids = valid["user_id"].to_numpy(), valid["item_id"].to_numpy()
    users = np.searchsorted(truth.user_ids, user_ids)
    items = np.searchsorted(truth.item_ids, item_ids)
    taste, bias = map_users(truth, made.train, prior)
    learnt = np.einsum("nd,nd->n", taste[users], truth.item_vecs[items]) + bias[users]
    ctr = made.train.groupby("item_id")["click"].mean()
    item_ctr = pd.Series(item_ids).map(ctr).fillna(ctr.mean()).to_numpy()
    return {
        "item_ctr_auc": metrics.auc(clicks, item_ctr),
        "items_known_users_learnt_auc": metrics.auc(clicks, learnt + truth.item_bias[items]),
        "truth_auc": metrics.auc(clicks, truth.probability(user_ids, item_ids)),
    }


LONGTAIL_PRIOR = Prior(taste_sd=1.5 / 4.0, bias_mean=-2.3, bias_sd=0.5, position_effect=0.25)
"""synthetic_longtail: taste = (0.5 visible + 0.87 hidden) * 1.5 / sqrt(16), unit variance per
dimension before the scale; bias -2.3 plus consumption and noise."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synthetic", choices=["longtail"], default="longtail")
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.rows < MIN_ROWS:
        parser.error(
            f"--rows must be at least {MIN_ROWS} (both splits need clicks), got {args.rows}"
        )
    made = synthetic.generate(args.synthetic, args.rows, args.seed, 0.3)
    for name, value in aucs(made, LONGTAIL_PRIOR).items():
        print(f"{name:32s} {value:.4f}")


if __name__ == "__main__":
    main()
