"""The evaluation table's pieces on small hand-made inputs (no models)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from services.ensemble.candidates import DEFAULT_ORDER, segment_keys
from training.build import coclick, segments
from training.evaluation import candidate_lists, evaluate


def test_ranking_table_puts_the_model_beside_its_baselines() -> None:
    train = pd.DataFrame({"item_id": [1, 1, 2, 2, 3], "click": [1, 1, 0, 1, 0]})
    valid = pd.DataFrame({"item_id": [1, 2, 3, 3], "click": [1, 0, 1, 0]})
    table = evaluate.ranking_table(train, valid, np.array([0.9, 0.1, 0.8, 0.2]))
    assert table["dlrm_auc"] == 1.0
    assert table["item_ctr_auc"] == pytest.approx(0.625)  # 1.0, 0.5, 0, 0
    assert table["valid_rows"] == 4


def test_retrieval_table_counts_only_new_clicks_and_excludes_history() -> None:
    items = np.array([10, 11, 12, 13], dtype=np.int32)
    vectors = np.eye(4, dtype=np.float32)
    history = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 11, 12]})
    targets = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 13, 11]})  # (1, 10) is old
    inputs = candidate_lists.RetrievalInputs(
        user_ids=np.array([1, 2]),
        query_vectors=np.array([[1, 0.9, 0, 0.1], [0, 0, 1, 0.5]], dtype=np.float32),
        item_ids=items,
        item_vectors=vectors,
        history=history,
        targets=targets,
        popular_ids=np.array([10, 11, 12, 13]),
        coclick=coclick.as_table(coclick.table(history)),
    )
    table = evaluate.retrieval_table(inputs, k=1)
    assert table["valid_clicks"] == 2
    # user 1: tower's best unseen is 13 (hit); user 2: 13 again (miss, target 11)
    assert table["tower_recall_at_100"] == 0.5
    # most clicked unseen: user 1 -> 12 (miss), user 2 -> 10 (miss)
    assert table["most_clicked_recall_at_100"] == 0.0
    assert table["random_recall_at_100"] == pytest.approx((1 / 2 + 1 / 3) / 2)


def encoded_clicks(
    users: list[int], items: list[int], groups: list[int], categories: list[int] | None = None
) -> pd.DataFrame:
    """Encoded train rows, all clicks; the segment is the group (age and gender alike); each
    item its own category unless `categories` says otherwise."""
    n = len(users)
    return pd.DataFrame(
        {
            "user_id_raw": users,
            "item_id_raw": items,
            "item_category": items if categories is None else categories,
            "user_group": groups,
            "user_age": [1] * n,
            "user_gender": [1] * n,
            "click": [1] * n,
        }
    )


def test_segment_lists_are_the_most_clicked_among_users_alike() -> None:
    train = encoded_clicks(
        [1, 2, 2, 3, 3, 4, 4], [10, 11, 12, 12, 13, 10, 12], [5, 5, 5, 6, 6, 6, 6]
    )
    train.loc[len(train)] = [4, 14, 14, 6, 1, 1, 0]  # a row without a click counts for nothing
    frame = segments.table(train, items=2)
    lists = segments.as_lists(frame)
    keys = segments.keys(pd.DataFrame({"user_group": [5, 6, 7], "user_age": 1, "user_gender": 1}))
    # segment 5: 10, 11, 12 once each (ties: smaller id first); 6: 12 twice, then 10 and 13
    assert lists.rows(keys, 3).tolist() == [[10, 11, -1], [12, 10, -1], [-1, -1, -1]]
    # each item its own category: the category's clicks are the item's, counted 1 + PRIOR times
    assert frame["score"].tolist() == [(1 + segments.CATEGORY_PRIOR) * n for n in (1, 1, 2, 1)]


def test_a_segments_list_holds_the_most_clicked_of_the_categories_it_clicks() -> None:
    """Segment 5 clicked items 10 and 11 of category 7 once each; segment 6 clicked 12, also
    of category 7, five times: 12 leads segment 5's list though its users never clicked it."""
    train = encoded_clicks([1, 2, *[3] * 5], [10, 11, *[12] * 5], [5, 5, *[6] * 5], [7] * 7)
    frame = segments.table(train)
    five = frame[frame["segment"] == segments.keys(train.iloc[:1])[0]]
    assert five["item_id"].tolist() == [12, 10, 11]
    prior = segments.CATEGORY_PRIOR
    # 2 clicks of segment 5 on category 7, which item 12 has 5 of 7 clicks of
    own_item = 1 + prior * 2 * 1 / 7
    assert five["score"].tolist() == pytest.approx([prior * 2 * 5 / 7, own_item, own_item])


def test_segment_keys_refuse_values_they_cannot_key() -> None:
    keys = segment_keys([np.array([1, -1, 1 << 21]), np.array([2, 2, 2])])
    assert keys[0] == (1 << 21) | 2 and keys[1] == keys[2] == -1
    with pytest.raises(ValueError, match="1 to 3 columns"):
        segment_keys([np.zeros(1)] * 4)


SEGMENTS_SERVED = ("coclick", "segment_popular", "popular_items")


def segment_inputs(served: bool) -> candidate_lists.RetrievalInputs:
    history = pd.DataFrame({"user_id": [1, 2, 3], "item_id": [10, 11, 12]})
    lists = segments.as_lists(segments.table(encoded_clicks([1, 2, 3], [10, 11, 12], [5, 5, 6])))
    return candidate_lists.RetrievalInputs(
        user_ids=np.array([1]),
        query_vectors=np.array([[0, 0, 1, 0]], dtype=np.float32),  # the tower prefers 12
        item_ids=np.array([10, 11, 12, 13], dtype=np.int32),
        item_vectors=np.eye(4, dtype=np.float32),
        history=history,
        targets=pd.DataFrame({"user_id": [1], "item_id": [11]}),  # user 2, alike, clicked 11
        popular_ids=np.array([12, 13, 10, 11]),
        coclick=coclick.as_table(coclick.table(history)),
        segment_lists=lists,
        segments=pd.Series(
            segments.keys(pd.DataFrame({"user_group": [5, 5, 6], "user_age": 1, "user_gender": 1})),
            index=[1, 2, 3],
        ),
        merge=candidate_lists.MergeSettings(order=SEGMENTS_SERVED if served else DEFAULT_ORDER),
    )


def test_the_retrieval_table_has_the_segment_baseline_and_warns_below_it() -> None:
    table = evaluate.retrieval_table(segment_inputs(served=False), k=1)
    assert table["segment_popular_recall_at_100"] == 1.0
    assert table["tower_recall_at_100"] == table["most_clicked_recall_at_100"] == 0.0
    assert table["second_source_recall_at_100"] == 0.0  # popular 12 first: a build before segments
    lines = evaluate.warnings({"retrieval": table})
    assert (
        "warning: tower_recall_at_100 0.0000 is below segment_popular_recall_at_100 1.0000" in lines
    )


def test_the_second_source_serves_the_segment_lists_when_the_build_has_them() -> None:
    table = evaluate.retrieval_table(segment_inputs(served=True), k=1)
    assert table["second_source_recall_at_100"] == 1.0  # the segment's 11 before popular 12
    second_only = dataclasses.replace(
        segment_inputs(served=True),
        merge=candidate_lists.MergeSettings(tower_share=0.0, order=SEGMENTS_SERVED),
    )
    assert evaluate.retrieval_table(second_only, k=1)["merged_recall_at_100"] == 1.0


def test_merge_settings_are_read_from_the_manifest() -> None:
    for settings in (
        candidate_lists.MergeSettings(),
        candidate_lists.MergeSettings(0.5, ("segment_popular", "popular_items"), ("user_group",)),
    ):
        candidates = {
            "tower_share": settings.tower_share,
            "second_source": list(settings.order),
            "segment_columns": list(settings.segment_columns),
        }
        assert candidate_lists.MergeSettings.from_manifest({"candidates": candidates}) == settings
    before = candidate_lists.MergeSettings.from_manifest({"candidates": {"tower_share": 0.9}})
    assert before == candidate_lists.MergeSettings(order=("coclick", "popular_items"))
    assert before.segment_columns == ("user_group", "user_age", "user_gender")
    with pytest.raises(ValueError, match="ends with popular_items"):
        candidate_lists.MergeSettings.from_manifest({"candidates": {"second_source": ["coclick"]}})


def test_merged_recalls_are_the_tables_merged_recall_for_each_setting() -> None:
    inputs = segment_inputs(served=True)
    choices = [
        candidate_lists.MergeSettings(tower_share=share, order=order)
        for share in (0.0, 0.5, 0.9)
        for order in (SEGMENTS_SERVED, DEFAULT_ORDER)
    ]
    expected = [
        evaluate.retrieval_table(dataclasses.replace(inputs, merge=m), k=1)["merged_recall_at_100"]
        for m in choices
    ]
    assert candidate_lists.merged_recalls(inputs, choices, k=1) == expected
    assert expected[0] == 1.0 and expected[1] == 0.0  # the segment's 11, or popular 12


def test_warnings_name_models_below_baselines() -> None:
    table = {
        "ranking": {"dlrm_auc": 0.6, "item_ctr_auc": 0.7, "most_clicked_auc": 0.5},
        "retrieval": {"merged_recall_at_100": 0.3, "most_clicked_recall_at_100": 0.2},
    }
    assert evaluate.warnings(table) == ["warning: dlrm_auc 0.6000 is below item_ctr_auc 0.7000"]
    assert "warning: dlrm_auc" in evaluate.format_table(table)


def test_coclick_table_is_cosine_of_user_sets() -> None:
    pairs = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": [5, 6, 5, 6, 5]})
    table = coclick.table(pairs).set_index(["item_id", "neighbour_id"])["score"]
    assert table[(5, 6)] == pytest.approx(2 / np.sqrt(3 * 2))
    assert table[(6, 5)] == pytest.approx(table[(5, 6)])
    assert coclick.table(pairs.iloc[:0]).empty


def test_segment_columns_choices_are_every_subset_all_three_first() -> None:
    assert segments.COLUMN_CHOICES[0] == segments.SEGMENT_COLUMNS
    assert len(set(segments.COLUMN_CHOICES)) == 7
    assert ("user_group",) in segments.COLUMN_CHOICES


def test_segment_lists_keyed_by_fewer_columns_pool_their_users() -> None:
    train = encoded_clicks([1, 2, 3], [10, 11, 11], [5, 5, 5])
    train["user_age"] = [1, 2, 3]  # three ages: alone in each full segment
    by_group = segments.as_lists(segments.table(train, segments.Recipe(("user_group",))))
    key = segments.keys(pd.DataFrame({"user_group": [5]}), ("user_group",))
    assert by_group.rows(key, 2).tolist() == [[11, 10]]
    full = segments.as_lists(segments.table(train))
    assert full.rows(segments.keys(train.iloc[:1]), 2).tolist() == [[10, -1]]


def test_segment_recall_counts_new_clicks_found_in_the_segments_list() -> None:
    history = pd.DataFrame({"user_id": [1, 2, 3], "item_id": [10, 11, 12]})
    targets = pd.DataFrame({"user_id": [1, 1, 3], "item_id": [11, 10, 13]})  # (1, 10) is old
    lists = segments.as_lists(segments.table(encoded_clicks([1, 2, 3], [10, 11, 12], [5, 5, 6])))
    keys = segments.keys(pd.DataFrame({"user_group": [5, 5, 6], "user_age": 1, "user_gender": 1}))
    user_segments = pd.Series(keys, index=[1, 2, 3])
    popular = np.array([13, 12, 11, 10])
    # user 1's segment list: 11 (hit); user 3's: 12 is theirs, then popular 13 (hit)
    assert (
        candidate_lists.segment_recall(history, targets, popular, lists, user_segments, k=1) == 1.0
    )
    # without a segment, user 1 gets the most clicked 13 (miss)
    assert (
        candidate_lists.segment_recall(
            history, targets, popular, lists, user_segments.iloc[1:], k=1
        )
        == 0.5
    )


def test_combined_lists_take_each_columns_taste_even_for_a_segment_without_clicks() -> None:
    """Group 5 and age 1 clicked category 7, group 6 and age 2 category 8 (one click each);
    user 3 (group 5, age 2) never clicked: the evidence is even, half and half."""
    train = encoded_clicks([1, 2], [10, 20], [5, 6], [7, 8])
    train["user_age"] = [1, 2]
    train.loc[len(train)] = [3, 10, 7, 5, 2, 1, 0]  # user 3 seen, no click
    recipe = segments.Recipe(segments.SEGMENT_COLUMNS, combined=True)
    taste = segments.combined_taste(train, recipe.columns)
    key = segments.keys(pd.DataFrame({"user_group": [5, 5], "user_age": [1, 2], "user_gender": 1}))
    # one pseudo-click per category: group 5 and age 1 each give category 7 2/3 (overall 1/2)
    assert taste[(key[0], 7)] == pytest.approx((4 / 3) ** 2 / ((4 / 3) ** 2 + (2 / 3) ** 2))
    assert taste[(key[1], 7)] == pytest.approx(0.5)
    lists = segments.table(train, recipe)
    third = lists[lists["segment"] == key[1]]
    assert third["item_id"].tolist() == [10, 20]  # each its category's only item: share 1
    assert third["score"].tolist() == pytest.approx([0.5, 0.5])
