"""FilterCandidates: past and denied items leave, K remain (no servers)."""

from __future__ import annotations

import numpy as np

from services.ensemble.rules import Rules
from services.ensemble.stages import FilterCandidates, excluded_mask


def stage(candidate_count: int, rules: Rules | None = None) -> FilterCandidates:
    return FilterCandidates(
        candidate_count, rules or Rules(), "retrieved_ids", "past_ids", "candidate_ids"
    )


def test_filter_drops_past_and_denied_and_keeps_k() -> None:
    op = stage(3, Rules(frozenset({12})))
    retrieved = np.array([[10, 11, 12, 13, 14, 15]], dtype=np.int32)
    out = op.run({"retrieved_ids": retrieved, "past_ids": np.array([[11, 14]], dtype=np.int32)})
    assert out["candidate_ids"].tolist() == [[10, 13, 15]]


def test_filter_pads_only_when_the_catalogue_runs_out() -> None:
    op = stage(3)
    out = op.run(
        {
            "retrieved_ids": np.array([[10, 11, 12]], dtype=np.int32),
            "past_ids": np.array([[10, 12]], dtype=np.int32),
        }
    )
    assert out["candidate_ids"].tolist() == [[11, -1, -1]]


def test_filter_writes_the_column_it_was_given() -> None:
    op = FilterCandidates(2, Rules(), "found", "had", "kept")
    out = op.run({"found": np.array([[5, 6, 7]]), "had": np.array([[6]])})
    assert list(out) == ["kept"] and out["kept"].tolist() == [[5, 7]]


def test_excluded_mask_is_per_user() -> None:
    ids = np.array([[1, 2, 3], [1, 2, 3]])
    past = np.array([[2, -1], [-1, -1]])
    assert excluded_mask(ids, past, frozenset({3})).tolist() == [
        [False, True, True],
        [False, False, True],
    ]
