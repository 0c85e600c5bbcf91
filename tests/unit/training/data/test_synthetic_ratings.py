"""The consumption-log generator: each item chosen once, about half liked, the valid split
each user's last choices."""

from __future__ import annotations

import numpy as np

from training.data import generators


def test_a_consumption_log_in_the_raw_schema() -> None:
    made = generators.generate("ratings", 6000, 3, 0.3)
    rows = np.concatenate(
        [
            made.train[["user_id", "item_id"]].to_numpy(),
            made.valid[["user_id", "item_id"]].to_numpy(),
        ]
    )
    assert len(np.unique(rows, axis=0)) == len(rows)  # an item once per user
    assert 0.4 < made.train["click"].mean() < 0.65
    assert 0.25 < len(made.valid) / (len(made.train) + len(made.valid)) < 0.35
    assert set(made.valid["user_id"]) <= set(made.train["user_id"])
    assert made.truth is not None
    p = made.truth.probability(made.train["user_id"].to_numpy(), made.train["item_id"].to_numpy())
    assert np.all((p > 0) & (p < 1))
    # liked more often where the truth says so
    liked = made.train["click"].to_numpy() == 1
    assert p[liked].mean() > p[~liked].mean() + 0.05


def test_the_same_seed_makes_the_same_log() -> None:
    first = generators.generate("ratings", 3000, 5, 0.3).train
    assert first.equals(generators.generate("ratings", 3000, 5, 0.3).train)
