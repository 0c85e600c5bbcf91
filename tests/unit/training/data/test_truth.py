"""The generators' click truth: every user with every item at once, as pair by pair."""

from __future__ import annotations

import numpy as np

from training.data.truth import ClickTruth


def test_the_grid_of_users_and_items_is_the_pairs_probability() -> None:
    rng = np.random.default_rng(3)
    truth = ClickTruth(
        user_ids=np.array([10, 20, 30]),
        item_ids=np.arange(100, 140),
        user_vecs=rng.normal(0.0, 1.0, (3, 5)),
        item_vecs=rng.normal(0.0, 1.0, (40, 5)),
        user_bias=np.array([-1.0, -0.5, 0.2]),
        item_bias=rng.normal(0.0, 0.3, 40),
    )
    users = np.array([30, 10, 99])  # 99: a user the generator never made
    items = np.array([139, 100, 120, -1])  # -1: padding
    grid = truth.grid(users, items)
    assert grid.shape == (3, 4)
    np.testing.assert_allclose(grid, truth.probability(users[:, None], items[None, :]), rtol=1e-12)
    assert (grid[2] == 0.0).all() and (grid[:, 3] == 0.0).all()
    assert (grid[:2, :3] > 0.0).all()
