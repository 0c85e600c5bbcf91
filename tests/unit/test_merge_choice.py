"""The build's choice of the segment's columns, on hand-made train rows (no models)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training import merge_choice, segments


def group_world(users: int = 400, seed: int = 0) -> pd.DataFrame:
    """Encoded train click rows where a user's group alone says what they click: each of 4
    groups clicks its own 400 items (10 categories of 40), some far more than others; ages (20
    of them) and genders are noise."""
    rng = np.random.default_rng(seed)
    group = rng.integers(1, 5, users)
    age = rng.integers(1, 21, users)
    gender = rng.integers(1, 3, users)
    weights = 1.0 / np.arange(1, 401)
    rows = []
    for user in range(users):
        for item in rng.choice(400, 8, replace=False, p=weights / weights.sum()):
            item_id = 1000 * group[user] + item
            rows.append((user, item_id, item_id // 40, group[user], age[user], gender[user]))
    columns = ["user_id_raw", "item_id_raw", "item_category", "user_group", "user_age"]
    frame = pd.DataFrame(rows, columns=[*columns, "user_gender"])
    frame["click"] = 1
    return frame


def test_the_segment_is_made_of_the_columns_that_predict_clicks() -> None:
    recalls = merge_choice.segment_recalls(group_world())
    assert set(recalls) == {"+".join(c) for c in segments.COLUMN_CHOICES}
    assert merge_choice.best_columns(recalls) == ("user_group",)
    # pooling every age of a group beats splitting the group twenty ways
    assert recalls["user_group"] > recalls["user_group+user_age"] + 0.05
    assert recalls["user_age"] < recalls["user_group"]


def test_without_clicks_to_tell_the_segment_keeps_all_three_columns() -> None:
    empty = group_world().iloc[:0]
    recalls = merge_choice.segment_recalls(empty)
    assert set(recalls.values()) == {0.0}
    assert merge_choice.best_columns(recalls) == segments.SEGMENT_COLUMNS
