"""How far a ranking model can get on a synthetic world, measured with the generator's truth.

Four AUCs on the valid split beside item CTR's:

* the truth itself (no model of the data can do better);
* **all but the hidden taste**: every item, every user's bias, the visible part of their taste
  and the page position's effect known exactly, the click probability averaged over the hidden
  part of the taste (`expected_logit`): the best a model can do without learning each user's own
  taste; and the same without the position's effect (the best without the position feature);
* **items known, users learnt**: every item's true vector and bias are given, and each user's
  taste and bias are estimated (MAP logistic regression, the generator's own prior) from that
  user's train impressions alone. This is what learning a user from their history can reach when
  the items are perfectly known: an upper bound for a model that must also learn the items.

Three recall@100s on the valid split's new clicks (the build's retrieval measure), of
whole-catalogue lists ranked by:

* the most clicked items of train (the baseline);
* **all but the hidden taste**: the generator's exposure probability (which items an earlier
  recommender and popularity would show the user) times the click probability above (without
  the page position, which a list has not);
* exposure times the true click probability (the best possible).

`python -m training.evaluation.ceiling --synthetic longtail --rows 50000 --seed 7`
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.data import generator_common, generators, synthetic_longtail
from training.data.truth import ClickTruth
from training.evaluation import candidate_lists, metrics, user_clicks

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


def map_users(
    truth: ClickTruth, rows: pd.DataFrame, prior: Prior
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
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
    x: npt.NDArray[np.float64],
    offset: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    precision: npt.NDArray[np.float64],
    mean: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    w = mean.copy()
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-(x @ w + offset)))
        gradient = x.T @ (p - y) + precision @ (w - mean)
        hessian = (x * (p * (1.0 - p))[:, None]).T @ x + precision
        w -= np.linalg.solve(hessian, gradient)
    return w


def aucs(made: generator_common.SyntheticData, prior: Prior, hidden_sd: float) -> dict[str, float]:
    truth, valid = made.truth, made.valid
    if truth is None:
        raise ValueError("AUC ceilings need a generator that reports its click truth")
    clicks = valid["click"].to_numpy()
    user_ids, item_ids = valid["user_id"].to_numpy(), valid["item_id"].to_numpy()
    users = np.searchsorted(truth.user_ids, user_ids)
    items = np.searchsorted(truth.item_ids, item_ids)
    taste, bias = map_users(truth, made.train, prior)
    learnt = np.einsum("nd,nd->n", taste[users], truth.item_vecs[items]) + bias[users]
    ctr = made.train.groupby("item_id")["click"].mean()
    item_ctr = pd.Series(item_ids).map(ctr).fillna(ctr.mean()).to_numpy()
    measures = {"item_ctr_auc": metrics.auc(clicks, item_ctr)}
    if made.visible_user_vecs is not None:
        expected = expected_logit(truth, made.visible_user_vecs, hidden_sd, users, items)
        position = prior.position_effect * valid["position"].to_numpy()
        measures["all_but_hidden_taste_auc"] = metrics.auc(clicks, expected - position)
        measures["all_but_hidden_taste_and_position_auc"] = metrics.auc(clicks, expected)
    return {
        **measures,
        "items_known_users_learnt_auc": metrics.auc(clicks, learnt + truth.item_bias[items]),
        "truth_auc": metrics.auc(clicks, truth.probability(user_ids, item_ids)),
    }


def expected_logit(
    truth: ClickTruth,
    visible_user_vecs: npt.NDArray[np.float64],
    hidden_sd: float,
    user_rows: npt.NDArray[np.intp],
    item_rows: npt.NDArray[np.intp] | None = None,
) -> npt.NDArray[np.float64]:
    """The logit of P(click) knowing everything but each user's hidden taste (the rest of
    `truth.user_vecs` beyond `visible_user_vecs`, N(0, hidden_sd^2) per dimension), averaged
    over it: E[sigmoid(m + s z)] ~ sigmoid(m / sqrt(1 + pi s^2 / 8)) (MacKay's probit
    approximation), m the logit with the visible taste, s^2 = hidden_sd^2 |item_vec|^2.

    For the pairs (`user_rows`[i], `item_rows`[i]); without `item_rows`, [users, items]."""
    visible = visible_user_vecs[user_rows]
    if item_rows is None:
        vecs, item_bias = truth.item_vecs, truth.item_bias[None, :]
        mean = visible @ vecs.T + truth.user_bias[user_rows, None]
    else:
        vecs, item_bias = truth.item_vecs[item_rows], truth.item_bias[item_rows]
        mean = np.einsum("nd,nd->n", visible, vecs) + truth.user_bias[user_rows]
    spread = hidden_sd**2 * np.square(vecs).sum(axis=-1)
    return np.asarray((mean + item_bias) / np.sqrt(1.0 + np.pi * spread / 8.0))


def recalls(
    made: generator_common.SyntheticData, hidden_sd: float, k: int = candidate_lists.K
) -> dict[str, float]:
    """Recall@k of whole-catalogue lists (see the module's doc) for the valid clicks of items
    their users had not clicked in train; those items are left out of the user's list."""
    truth, exposure, visible = made.truth, made.exposure, made.visible_user_vecs
    if truth is None or exposure is None or visible is None:
        raise ValueError("recall ceilings need a generator that reports its exposure and taste")
    train_clicks = _clicks(made.train)
    history = _truth_rows(truth, train_clicks.drop_duplicates())
    targets = _truth_rows(truth, user_clicks.new_targets(_clicks(made.valid), train_clicks))
    users, target_user = np.unique(targets["user"].to_numpy(), return_inverse=True)
    clicks = np.bincount(history["item"], minlength=len(truth.item_ids)).astype(float)
    scores = {
        "most_clicked": np.tile(clicks, (len(users), 1)),
        "all_but_hidden_taste": exposure.probability(users)
        / (1.0 + np.exp(-expected_logit(truth, visible, hidden_sd, users))),
        "exposure_x_truth": exposure.probability(users)
        * truth.probability(truth.user_ids[users][:, None], truth.item_ids[None, :]),
    }
    seen = history[history["user"].isin(users)]
    seen_rows = np.searchsorted(users, seen["user"].to_numpy())
    result = {}
    for name, score in scores.items():
        score[seen_rows, seen["item"].to_numpy()] = -np.inf
        top = np.argsort(-score, axis=1, kind="stable")[:, :k]
        listed = np.zeros(score.shape, dtype=bool)
        np.put_along_axis(listed, top, True, axis=1)
        result[f"{name}_recall@{k}"] = float(listed[target_user, targets["item"]].mean())
    return result


def _clicks(frame: pd.DataFrame) -> pd.DataFrame:
    """(user_id, item_id) of the clicked rows of a raw frame."""
    return frame.loc[frame["click"].to_numpy() == 1, ["user_id", "item_id"]]


def _truth_rows(truth: ClickTruth, pairs: pd.DataFrame) -> pd.DataFrame:
    """(user, item): the rows of `truth` of each (user_id, item_id) pair."""
    return pd.DataFrame(
        {
            "user": np.searchsorted(truth.user_ids, pairs["user_id"].to_numpy()),
            "item": np.searchsorted(truth.item_ids, pairs["item_id"].to_numpy()),
        }
    )


LONGTAIL_PRIOR = Prior(
    taste_sd=synthetic_longtail.TASTE_SCALE,
    bias_mean=-2.3,
    bias_sd=0.5,
    position_effect=synthetic_longtail.POSITION_EFFECT,
)
"""synthetic_longtail: taste = (0.5 visible + 0.87 hidden) * 1.5 / sqrt(16), unit variance per
dimension before the scale; bias -2.3 plus consumption and noise."""
LONGTAIL_HIDDEN_SD = synthetic_longtail.HIDDEN_WEIGHT * synthetic_longtail.TASTE_SCALE
"""The spread of the hidden part of a longtail user's taste, per dimension."""


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
    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    made = generators.generate(args.synthetic, args.rows, args.seed, 0.3)
    measures = {
        **aucs(made, LONGTAIL_PRIOR, LONGTAIL_HIDDEN_SD),
        **recalls(made, LONGTAIL_HIDDEN_SD),
    }
    for name, value in measures.items():
        print(f"{name:40s} {value:.4f}")


if __name__ == "__main__":
    main()
