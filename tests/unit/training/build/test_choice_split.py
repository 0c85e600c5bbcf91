"""The rows held out of every model: each user's last rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.build.choice_split import split


def test_each_users_last_rows_are_held_out_and_the_share_holds() -> None:
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(200), rng.integers(1, 40, 200))
    frame = pd.DataFrame({"user_id_raw": users, "order": np.arange(len(users))})
    parts = split(frame, share=0.1)
    assert len(parts.fit) + len(parts.held) == len(frame)
    assert abs(len(parts.held) / len(frame) - 0.1) < 0.02
    last_fit = parts.fit.groupby("user_id_raw")["order"].max()
    first_held = parts.held.groupby("user_id_raw")["order"].min()
    assert (first_held > last_fit.reindex(first_held.index).fillna(-1)).all()


def test_too_few_rows_to_hold_any_leave_both_parts_whole() -> None:
    frame = pd.DataFrame({"user_id_raw": [1, 2], "order": [0, 1]})
    parts = split(frame, share=0.01)
    assert len(parts.fit) == len(parts.held) == 2


def test_users_with_new_clicks_are_those_whose_held_clicks_are_new_to_them() -> None:
    frame = pd.DataFrame(
        {
            "user_id_raw": [1] * 10 + [2] * 10,
            "item_id_raw": list(range(10)) + [5] * 10,
            "click": [1] * 20,
        }
    )
    parts = split(frame, share=0.2)
    assert parts.users_with_new_clicks(10).tolist() == [1]  # user 2 clicks item 5 again
