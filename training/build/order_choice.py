"""The build chooses how each answer is filtered and ordered, on the clicks of the train rows
held out of every model (training/build/choice_split.py), never on the valid split.

1. `choose_filter`: what the filter removes (the user's clicked items, or every item shown to
   them: on rating logs an item is rated once, so an item shown and not clicked never comes
   back; in impression logs it may) and what the item-item model reads (clicks, or every item
   shown). EASE is fit on the fit rows for each input; its top-10 alone under each filter, on
   the held-out users' new clicks; the pair with the best NDCG@10 wins (ties: clicks).
2. `choose_weights`: the final score's weights (services/ensemble/final_score.py), by NDCG@10
   of the top-10 of the candidates the merge choice picked (training/build/merge_choice.py):
   coordinate ascent from the best single part, each weight in turn over WEIGHT_GRID, until a
   round gains less than MIN_GAIN (a change must gain that much to be taken).

What a list is judged by depends on what the data is. In a consumption log (ratings, plays,
purchases: each row is an item the user chose, once) a list must anticipate what the user will
take next: the held-out NDCG@10 alone decides. In an impression log (a system showed the
items) a list is judged by the clicks it gets when shown, the click probability given shown
that the DLRM estimates; held-out clicks there also follow the old system's exposure, which
popular and segment lists copy. So in an impression log the ascent starts from the DLRM's order,
judges by the held-out NDCG@10 with each click weighted by 1 / P(shown)
(training/evaluation/propensity.py), takes a change only when its gain is beyond the held-out
clicks' noise (STANDARD_ERRORS) and only weights whose top-10 keeps at least 1 - CTR_TOLERANCE
of the DLRM order's estimated click probability. A log is an impression log when shown items
are clicked later (step 1 keeps them) or when some user was shown the same item twice
(`FilterChoice.impression_log`): with a large catalogue repeats are rare, and removing shown
items can win step 1 by a hair on an impression log too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from services.ensemble.candidates import IdArray
from services.ensemble.final_score import EXCLUDES, PARTS, OrderSettings, ScoreWeights
from training.build import itemitem, popular
from training.build.choice_split import ChoiceSplit
from training.evaluation import (
    candidate_lists,
    evaluate_top10,
    propensity,
    top10_metrics,
    user_clicks,
)

WEIGHT_GRID = (0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)
MIN_GAIN = 0.002
"""Relative NDCG@10 gain a weight change must bring (the held-out clicks are a sample)."""
ROUNDS = 4
STANDARD_ERRORS = 3.0
"""In an impression log a weight change must raise the held-out debiased NDCG@10 by more than
this many standard errors of the gain (paired by user): weighting clicks by 1 / P(shown) makes
the measure noisy, and a round of the ascent makes about 40 trials (5 parts x 8 values). At 3,
a trial without a real gain passes with probability 0.0013, about 5% over a round's trials
(Bonferroni); at 2 (2.3% a trial) noise passes in most rounds."""
CTR_TOLERANCE = 0.02
"""Share of the DLRM's estimated click probability of the top-10 an impression log's order may
give up for held-out NDCG. On both generators at 100k rows (their truth known): 0.02 kept
0.98 of the true click probability's lift over random items (planted 0.853 -> 0.837,
longtail 0.448 -> 0.441) and raised held-out NDCG@10 by 20% and 43%; 0.05 kept 0.95."""


@dataclass(frozen=True)
class FilterChoice:
    exclude: str
    itemitem_input: str
    ndcg: dict[str, float]
    """NDCG@10 of EASE alone per `<exclude>/<input>`."""
    users: int
    repeated_pairs: float = 0.0
    """Share of the fit rows whose (user, item) pair came before: 0 in a rating log."""

    @property
    def impression_log(self) -> bool:
        """Shown items are clicked later, or items are shown again: what a system shows, not
        what users chose (module docstring)."""
        return self.exclude == "clicks" or self.repeated_pairs >= REPEATED_PAIRS_OF_IMPRESSIONS

    def as_dict(self) -> dict[str, Any]:
        return {
            "exclude": self.exclude,
            "itemitem_input": self.itemitem_input,
            "itemitem_alone_ndcg_at_10": self.ndcg,
            "users": self.users,
            "repeated_pairs": round(self.repeated_pairs, 6),
            "log": "impressions" if self.impression_log else "consumption",
        }


REPEATED_PAIRS_OF_IMPRESSIONS = 1e-4
"""A log with at least this share of repeated (user, item) rows is an impression log. Rating
logs have none (MovieLens, the `ratings` generator, Steam's play rows); the impression-log
generators 0.6% (planted, 1M rows, 100k items) to 15% (longtail, 100k rows). One repeat in
10,000 rows tolerates a rating log's stray duplicates."""


@dataclass(frozen=True)
class WeightChoice:
    weights: ScoreWeights
    ndcg: float
    """Held-out NDCG@10 of the chosen weights."""
    alone: dict[str, float] = field(default_factory=dict)
    """Held-out NDCG@10 of each part alone (`ranking` alone: the DLRM's order)."""
    users: int = 0
    ctr_floor: float | None = None
    """The estimated click probability the top-10 had to keep (impression logs), if any."""
    estimated_ctr: float = 0.0
    """The chosen top-10's mean DLRM click probability on the held-out users."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ndcg_at_10": round(self.ndcg, 4),
            "part_alone_ndcg_at_10": {k: round(v, 4) for k, v in self.alone.items()},
            "users": self.users,
            "objective": "held-out NDCG@10"
            if self.ctr_floor is None
            else "held-out NDCG@10 debiased by exposure, keeping the DLRM's estimated click rate",
            "estimated_ctr": round(self.estimated_ctr, 4),
            **({} if self.ctr_floor is None else {"ctr_floor": round(self.ctr_floor, 4)}),
        }


def choose_filter(
    split: ChoiceSplit,
    config: itemitem.ItemItemConfig,
    max_users: int = evaluate_top10.MAX_USERS,
) -> tuple[FilterChoice, pd.DataFrame, tuple[IdArray, npt.NDArray[np.float32]]]:
    """The filter and the item-item input, and the chosen input's weights fit on `split.fit`
    (the table and the dense weights the merge and weight choices read)."""
    users = split.users_with_new_clicks(max_users)
    clicks = user_clicks.click_pairs(split.fit)
    shown = pd.concat([clicks, user_clicks.shown_pairs(split.fit)])
    histories = {
        "clicks": user_clicks.histories(clicks, users),
        "shown": user_clicks.histories(shown, users),
    }
    targets = user_clicks.click_pairs(split.held)
    rows, items = user_clicks.target_rows(users, targets, clicks)
    ndcg: dict[str, float] = {}
    fitted = {}
    for model_input in EXCLUDES:
        ids, b = itemitem.weights(itemitem.pairs_of(split.fit, model_input), config)
        fitted[model_input] = (ids, b)
        for exclude in EXCLUDES:
            top = evaluate_top10.dense_top(ids, b, histories[model_input], histories[exclude])
            value = top10_metrics.list_metrics(top, rows, items)["ndcg_at_10"]
            ndcg[f"{exclude}/{model_input}"] = round(value, 4)
    order = [f"{e}/{i}" for e in EXCLUDES for i in EXCLUDES]
    best = max(order, key=lambda name: (ndcg[name], -order.index(name)))
    exclude, model_input = best.split("/")
    ids, b = fitted[model_input]
    table = itemitem.as_frame(ids, b, config.neighbours)
    repeated = float(split.fit.duplicated(["user_id_raw", "item_id_raw"]).mean())
    choice = FilterChoice(exclude, model_input, ndcg, int(len(users)), repeated)
    return choice, table, (ids, b)


def choose_weights(
    inputs: candidate_lists.RetrievalInputs,
    held: pd.DataFrame,
    fit: pd.DataFrame,
    items: pd.DataFrame,
    dlrm: Any,
    impression_log: bool,
) -> WeightChoice:
    """The weights for the held-out users of `inputs` (their history and lists from `fit`,
    the merge the build chose), scored with the DLRM and `items` (the encoded catalogue);
    `impression_log`: keep the DLRM order's estimated click probability (module docstring)."""
    lists = candidate_lists.candidate_lists(inputs)
    users = evaluate_top10.user_rows(held, inputs.user_ids)
    scored = evaluate_top10.score_candidates(
        inputs, lists, users, items, dlrm, popular.item_clicks(fit)
    )
    rows, targets = evaluate_top10.target_rows(inputs)
    if impression_log:
        return _impression_log_weights(inputs, fit, scored, rows, targets)

    def ndcg(weights: ScoreWeights) -> float:
        return top10_metrics.list_metrics(scored.top(weights), rows, targets)["ndcg_at_10"]

    alone = {part: ndcg(ScoreWeights.from_dict({part: 1.0})) for part in PARTS}
    start = max(PARTS, key=lambda part: (alone[part], -PARTS.index(part)))
    weights, best = ascend(ScoreWeights.from_dict({start: 1.0}), alone[start], ndcg)
    users_measured = int(len(np.unique(rows)))
    return WeightChoice(weights, best, alone, users_measured, None, scored.estimated_ctr(weights))


def _impression_log_weights(
    inputs: candidate_lists.RetrievalInputs,
    fit: pd.DataFrame,
    scored: evaluate_top10.ScoredCandidates,
    rows: npt.NDArray[np.int64],
    targets: user_clicks.CatalogueIds,
) -> WeightChoice:
    """From the DLRM's order, by the held-out NDCG@10 debiased by the exposure of `fit`
    (`propensity`), among the weights that keep its estimated click rate; a change must beat
    the noise of the held-out clicks (`STANDARD_ERRORS`)."""
    exposure = propensity.Exposure.of(fit)
    weights_of_clicks = propensity.click_weights(exposure, inputs.user_ids, rows, targets)
    _, user_of_click = np.unique(rows, return_inverse=True)
    total = float(weights_of_clicks.sum())

    def gains(weights: ScoreWeights) -> npt.NDArray[np.float64]:
        return weights_of_clicks * top10_metrics.click_gains(scored.top(weights), rows, targets)

    def ndcg(weights: ScoreWeights) -> float:
        return float(gains(weights).sum()) / total

    floor = (1.0 - CTR_TOLERANCE) * scored.estimated_ctr(ScoreWeights())

    def allowed(trial: ScoreWeights, current: ScoreWeights) -> bool:
        if scored.estimated_ctr(trial) < floor:
            return False
        return gain_beyond_noise(gains(trial) - gains(current), user_of_click)

    alone = {part: ndcg(ScoreWeights.from_dict({part: 1.0})) for part in PARTS}
    weights, best = ascend(ScoreWeights(), alone["ranking"], ndcg, allowed)
    users_measured = int(len(np.unique(rows)))
    return WeightChoice(weights, best, alone, users_measured, floor, scored.estimated_ctr(weights))


def gain_beyond_noise(gains: npt.NDArray[np.float64], user_of_click: npt.NDArray[np.int64]) -> bool:
    """Whether the clicks' total gain (one value per click, users 0..n-1 by `user_of_click`)
    exceeds STANDARD_ERRORS standard errors of a total over users drawn at random."""
    by_user = np.bincount(user_of_click, weights=gains)
    noise = STANDARD_ERRORS * float(np.sqrt(len(by_user)) * by_user.std())
    return float(by_user.sum()) > noise


def ascend(
    weights: ScoreWeights,
    score: float,
    measure: Callable[[ScoreWeights], float],
    allowed: Callable[[ScoreWeights, ScoreWeights], bool] = lambda trial, current: True,
    rounds: int = ROUNDS,
) -> tuple[ScoreWeights, float]:
    """Coordinate ascent of `measure(weights)` over WEIGHT_GRID, one part at a time; a trial
    must gain MIN_GAIN and be `allowed(trial, current weights)`."""
    for _ in range(rounds):
        improved = False
        for part in PARTS:
            for value in WEIGHT_GRID:
                values = {**weights.as_dict(), part: value}
                if not any(values.values()) or values == weights.as_dict():
                    continue
                trial = ScoreWeights.from_dict(values)
                result = measure(trial)
                if result > score * (1 + MIN_GAIN) and allowed(trial, weights):
                    weights, score, improved = trial, result, True
        if not improved:
            break
    return weights, score


def ordering(choice: FilterChoice, weights: ScoreWeights | None = None) -> OrderSettings:
    return OrderSettings(choice.exclude, choice.itemitem_input, weights or ScoreWeights())
