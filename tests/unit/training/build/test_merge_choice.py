"""The build's choice of how segment lists are made, on hand-made train rows (no models)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.build import merge_choice, segments


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
    return click_rows(rows)


def click_rows(rows: list[tuple[int, ...]]) -> pd.DataFrame:
    """(user, item, category, group, age, gender) tuples as encoded train click rows."""
    columns = ["user_id_raw", "item_id_raw", "item_category", "user_group", "user_age"]
    frame = pd.DataFrame(rows, columns=[*columns, "user_gender"])
    frame["click"] = 1
    return frame


def test_the_segment_is_made_of_the_columns_that_predict_clicks() -> None:
    recalls = merge_choice.segment_recalls(group_world())
    assert set(recalls) == {recipe.name for recipe in segments.RECIPES}
    assert merge_choice.best_recipe(recalls) == segments.Recipe(("user_group",))
    # pooling every age of a group beats splitting the group twenty ways
    assert recalls["user_group"] > recalls["user_group+user_age"] + 0.05
    assert recalls["user_age"] < recalls["user_group"]


def test_without_clicks_to_tell_the_segment_keeps_all_three_columns() -> None:
    empty = group_world().iloc[:0]
    recalls = merge_choice.segment_recalls(empty)
    assert set(recalls.values()) == {0.0}
    assert merge_choice.best_recipe(recalls) == segments.OWN_CLICKS


def two_column_world(users: int = 200, seed: int = 0) -> pd.DataFrame:
    """Encoded train click rows where half of a user's clicks follow their group (one of 10
    categories) and half their age (one of 10 others), each user clicking 2 of a category's 100
    items; genders are noise. A (group, age) segment holds about 2 users."""
    rng = np.random.default_rng(seed)
    group, age, gender = (
        rng.integers(1, 11, users),
        rng.integers(1, 11, users),
        rng.integers(1, 3, users),
    )
    weights = 1.0 / np.sqrt(np.arange(1, 101))
    rows = []
    for user in range(users):
        for category in (group[user], 10 + age[user]):
            for item in rng.choice(100, 2, replace=False, p=weights / weights.sum()):
                rows.append(
                    (user, 1000 * category + item, category, group[user], age[user], gender[user])
                )
    return click_rows(rows)


def test_where_each_column_says_part_of_the_taste_the_columns_are_combined() -> None:
    recalls = merge_choice.segment_recalls(two_column_world())
    assert set(recalls) == {recipe.name for recipe in segments.RECIPES}
    best = merge_choice.best_recipe(recalls)
    assert best == segments.Recipe(segments.SEGMENT_COLUMNS, combined=True), recalls
    # by their own clicks, the full segments are too thin and one column knows half the taste
    combined = recalls[best.name]
    assert combined > max(v for k, v in recalls.items() if k != best.name) + 0.005
    assert recalls["user_group"] < recalls["user_group+user_age"]
