"""MergeCandidates: the tower's ids and the second source merged as candidates.py defines, from
the exported artifacts; the graph builds with or without a co-click artifact (no servers)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from services.ensemble.candidates import (
    DEFAULT_ORDER,
    NeighbourTable,
    SegmentLists,
    merge_candidates,
    second_source,
    segment_keys,
)
from services.ensemble.contract import INPUT
from services.ensemble.operator import serving_graph
from services.ensemble.rules import Rules
from services.ensemble.stages import (
    FetchPastItems,
    FilterCandidates,
    MergeCandidates,
    RetrieveCandidates,
    WiringError,
)
from services.ensemble.stages.merge_candidates import (
    MergeColumns,
    SourceFiles,
    second_source_stage,
)

COLUMNS = MergeColumns("retrieved_ids", "past_ids", "merged_ids")
COCLICK = pd.DataFrame(
    {
        "item_id": np.array([1, 1, 2, 2], np.int32),
        "neighbour_id": np.array([5, 6, 6, 7], np.int32),
        "score": np.array([0.9, 0.5, 0.6, 0.2], np.float32),
    }
)
POPULAR = np.array([1, 8, 9, 5], np.int32)
RETRIEVED = np.array([[10, 1, 11, 12, 6, 13], [8, 9, 10, 11, 12, 13]], np.int32)
PAST = np.array([[1, 2], [-1, -1]], np.int32)  # the second user has no past items
SEGMENT_COLUMNS = ("user_group", "user_age", "user_gender")
USER_SEGMENTS = {  # user 0 in segment (3, 2, 1), user 1 in (4, 2, 1)
    "user_group": np.array([3, 4], np.int32),
    "user_age": np.array([2, 2], np.int32),
    "user_gender": np.array([1, 1], np.int32),
}
SEGMENT_KEYS = segment_keys([np.array([3, 4]), np.array([2, 2]), np.array([1, 1])])
SEGMENT_POPULAR = pd.DataFrame(  # segment (3, 2, 1): 20, 2, 21; segment (4, 2, 1): 22
    {
        "segment": np.array([SEGMENT_KEYS[0]] * 3 + [SEGMENT_KEYS[1]], np.int64),
        "item_id": np.array([20, 2, 21, 22], np.int32),
        "clicks": np.array([5, 4, 1, 2], np.int64),
    }
)


@pytest.fixture()
def build(tmp_path: Path) -> Path:
    COCLICK.to_parquet(tmp_path / "coclick.parquet", index=False)
    pd.DataFrame({"item_id": POPULAR, "clicks": [9, 7, 5, 3]}).to_parquet(
        tmp_path / "popular_items.parquet", index=False
    )
    SEGMENT_POPULAR.to_parquet(tmp_path / "segment_popular.parquet", index=False)
    return tmp_path


def stage(  # type: ignore[no-untyped-def]
    build: Path,
    candidate_count: int = 6,
    share: float = 0.75,
    rules: Rules | None = None,
    segments: bool = False,
    order: tuple[str, ...] = ("coclick", "segment_popular", "popular_items"),
):
    files = SourceFiles(
        build / "coclick.parquet",
        build / "popular_items.parquet",
        build / "segment_popular.parquet" if segments else None,
    )
    columns = SEGMENT_COLUMNS if segments else ()
    order = order if segments else DEFAULT_ORDER
    op = MergeCandidates(files, candidate_count, share, rules or Rules(), COLUMNS, columns, order)
    op.load_artifacts(None)
    return op


def run(op: MergeCandidates) -> list[list[int]]:
    inputs = {"retrieved_ids": RETRIEVED, "past_ids": PAST, **USER_SEGMENTS}
    merged = op.run(inputs)["merged_ids"]
    assert merged.dtype == np.int32
    return list(merged.tolist())


def test_merge_interleaves_by_rank_without_past_items_or_repeats(build: Path) -> None:
    # user 0: co-clicked 6 (0.5 + 0.6), 5, 7, then popular 8, 9; tower places at
    # (r + .5) / .75, the second source's at (r + .5) / .25: 10 1 6 11 12 6 5 13 7 ...
    assert run(stage(build)) == [[10, 6, 11, 12, 5, 13], [8, 9, 1, 10, 11, 12]]


def test_merge_equals_the_offline_evaluation_functions(build: Path) -> None:
    table = NeighbourTable.from_columns(
        COCLICK["item_id"], COCLICK["neighbour_id"], COCLICK["score"]
    )
    history = [np.array([1, 2]), np.array([], np.int64)]
    for candidate_count, share in ((3, 0.75), (6, 0.5), (6, 0.25), (4, 1.0)):
        second = second_source(table, POPULAR, history, candidate_count)
        expected = merge_candidates(RETRIEVED, second, history, candidate_count, tower_share=share)
        assert run(stage(build, candidate_count, share)) == expected.tolist(), (
            candidate_count,
            share,
        )


def test_the_segments_most_clicked_come_between_coclicked_and_most_clicked(build: Path) -> None:
    # share 0: the second source alone. User 0: co-clicked 6, 5, 7, then its segment's 20
    # (2 is a past item), 21, then popular 8; user 1: nothing co-clicked, its segment's 22, then
    # popular 1, 8, 9, 5 and the tower's list
    merged = run(stage(build, share=0.0, segments=True))
    assert merged == [[6, 5, 7, 20, 21, 8], [22, 1, 8, 9, 5, 10]]
    assert run(stage(build, share=0.0)) == [[6, 5, 7, 8, 9, 10], [1, 8, 9, 5, 10, 11]]


SEGMENT_FIRST = ("segment_popular", "coclick", "popular_items")
SEGMENT_THEN_POPULAR = ("segment_popular", "popular_items")


def test_the_build_order_decides_which_list_comes_first(build: Path) -> None:
    merged = run(stage(build, share=0.0, segments=True, order=SEGMENT_FIRST))
    assert merged == [[20, 21, 6, 5, 7, 8], [22, 1, 8, 9, 5, 10]]
    merged = run(stage(build, share=0.0, segments=True, order=SEGMENT_THEN_POPULAR))
    assert merged == [[20, 21, 8, 9, 5, 10], [22, 1, 8, 9, 5, 10]]  # nothing co-clicked


def test_an_order_that_does_not_end_with_the_most_clicked_is_refused(build: Path) -> None:
    for order in (("coclick",), ("popular_items", "coclick"), ("nearby", "popular_items")):
        with pytest.raises(ValueError, match="ends with popular_items"):
            stage(build, segments=True, order=order)


def test_the_segment_merge_equals_the_offline_evaluation_functions(build: Path) -> None:
    table = NeighbourTable.from_columns(
        COCLICK["item_id"], COCLICK["neighbour_id"], COCLICK["score"]
    )
    lists = SegmentLists.from_columns(SEGMENT_POPULAR["segment"], SEGMENT_POPULAR["item_id"])
    history = [np.array([1, 2]), np.array([], np.int64)]
    coclick_first = ("coclick", "segment_popular", "popular_items")
    for candidate_count, share, order in (
        (3, 0.75, coclick_first),
        (6, 0.5, SEGMENT_FIRST),
        (6, 0.0, coclick_first),
        (6, 0.0, SEGMENT_FIRST),
        (6, 0.5, SEGMENT_THEN_POPULAR),
    ):
        rows = lists.rows(SEGMENT_KEYS, candidate_count + 2)
        second = second_source(table, POPULAR, history, candidate_count, rows, order)
        expected = merge_candidates(RETRIEVED, second, history, candidate_count, tower_share=share)
        op = stage(build, candidate_count, share, segments=True, order=order)
        assert run(op) == expected.tolist(), (candidate_count, share, order)


def test_a_user_of_an_unknown_segment_gets_the_most_clicked_overall(build: Path) -> None:
    op = stage(build, share=0.0, segments=True)
    inputs = {
        "retrieved_ids": RETRIEVED,
        "past_ids": PAST,
        **USER_SEGMENTS,
        "user_group": np.array([9, 0], np.int32),  # neither segment is in the lists
    }
    merged = op.run(inputs)["merged_ids"].tolist()
    assert merged == [[6, 5, 7, 8, 9, 10], [1, 8, 9, 5, 10, 11]]


def test_denied_items_are_skipped_and_the_next_ones_fill_in(build: Path) -> None:
    merged = run(stage(build, rules=Rules(frozenset({10}))))
    assert merged == [[6, 11, 12, 5, 13, 7], [8, 9, 1, 11, 12, 13]]


def test_exported_artifacts_load_without_the_build(build: Path, tmp_path: Path) -> None:
    exported = tmp_path / "ensemble"
    exported.mkdir()
    original = stage(build, segments=True)
    original.save_artifacts(str(exported))
    assert sorted(p.name for p in (exported / "second_source").iterdir()) == [
        "coclick.parquet",
        "popular_items.parquet",
        "segment_popular.parquet",
    ]
    copy = pickle.loads(pickle.dumps(original))
    assert set(copy.files.values()) == {None}  # no build-machine path in the pickle
    copy.load_artifacts(str(exported))
    assert run(copy) == run(original)


def test_a_missing_artifact_fails_when_the_graph_is_built(build: Path) -> None:
    (build / "coclick.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="coclick.parquet"):
        stage(build)


def manifest(**extra: object) -> dict[str, object]:
    artifacts = {"popular_items": "popular_items.parquet"}
    return {"artifacts": artifacts, **extra}


def test_the_build_manifest_sets_share_and_artifacts(build: Path) -> None:
    document = manifest(candidates={"tower_share": 0.25})
    document["artifacts"] = {"coclick": "coclick.parquet", "popular_items": "popular_items.parquet"}
    op = second_source_stage(build, document, 6, Rules(), COLUMNS)
    assert op is not None and op.tower_share == 0.25 and op.candidate_count == 6


def test_the_build_manifest_sets_the_segment_lists_and_their_columns(build: Path) -> None:
    document = manifest(candidates={"tower_share": 0.5, "segment_columns": list(SEGMENT_COLUMNS)})
    document["artifacts"] = {
        "coclick": "coclick.parquet",
        "popular_items": "popular_items.parquet",
        "segment_popular": "segment_popular.parquet",
    }
    op = second_source_stage(build, document, 6, Rules(), COLUMNS)
    assert op is not None and op.reads == ("retrieved_ids", "past_ids", *SEGMENT_COLUMNS)
    assert op.order == ("coclick", "popular_items")  # a manifest without an order: as before
    document["candidates"]["second_source"] = list(SEGMENT_FIRST)  # type: ignore[index]
    op = second_source_stage(build, document, 6, Rules(), COLUMNS)
    assert op is not None and op.order == SEGMENT_FIRST
    del document["candidates"]["segment_columns"]  # type: ignore[index]
    with pytest.raises(ValueError, match="segment_columns"):
        second_source_stage(build, document, 6, Rules(), COLUMNS)


def test_a_build_without_coclick_gets_no_merge_stage(build: Path) -> None:
    assert second_source_stage(build, manifest(), 6, Rules(), COLUMNS) is None


def test_a_coclick_artifact_without_its_settings_is_refused(build: Path) -> None:
    document = manifest()
    document["artifacts"] = {"coclick": "coclick.parquet", "popular_items": "popular_items.parquet"}
    with pytest.raises(ValueError, match="tower_share"):
        second_source_stage(build, document, 6, Rules(), COLUMNS)


def test_the_filter_reads_the_merged_column_and_the_wiring_is_checked(build: Path) -> None:
    retrieved = [
        FetchPastItems("build-1", INPUT, "past_ids"),
        RetrieveCandidates(None, 6, Rules(), INPUT, "past_ids", "retrieved_ids"),
    ]
    filtered = FilterCandidates(6, Rules(), "merged_ids", "past_ids", "candidate_ids")
    merged = serving_graph([*retrieved, stage(build), filtered])
    assert "candidate_ids" in merged.output_schema.column_names
    with pytest.raises(WiringError, match="merged_ids"):
        serving_graph([*retrieved, filtered])
    with pytest.raises(WiringError, match="user_group"):  # no stage wrote the user features
        serving_graph([*retrieved, stage(build, segments=True)])


def test_a_users_candidates_do_not_depend_on_the_rest_of_the_batch(build: Path) -> None:
    for order in (("coclick", "segment_popular", "popular_items"), SEGMENT_FIRST):
        op = stage(build, candidate_count=4, share=0.5, segments=True, order=order)
        inputs = {"retrieved_ids": RETRIEVED, "past_ids": PAST, **USER_SEGMENTS}
        together = op.run(inputs)["merged_ids"]
        for row in range(len(RETRIEVED)):
            alone = op.run({name: values[row : row + 1] for name, values in inputs.items()})
            np.testing.assert_array_equal(alone["merged_ids"][0], together[row])
