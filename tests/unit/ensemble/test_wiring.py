"""The graph's wiring is checked when it is built: a missing column fails there, by name."""

from __future__ import annotations

import pytest

from services.ensemble.contract import INPUT, OUTPUTS
from services.ensemble.operator import serving_graph
from services.ensemble.rules import Rules
from services.ensemble.stages import (
    FetchPastItems,
    FilterCandidates,
    OrderByScore,
    OrderInputs,
    RetrieveCandidates,
    UnrollUserFeatures,
    WiringError,
)


def test_a_stage_reading_a_column_nobody_writes_fails_at_build_time() -> None:
    stages = [
        FetchPastItems("build-1", users=INPUT, past="past_ids"),
        FilterCandidates(10, Rules(), "retrieved_ids", "past_ids", "candidate_ids"),
    ]
    with pytest.raises(WiringError, match=r"FilterCandidates reads \['retrieved_ids'\]"):
        serving_graph(stages)


def test_a_misspelt_column_deep_in_the_graph_fails_at_build_time() -> None:
    inputs = OrderInputs("candidate_ids", "click_scores", "item_found", "cat", "found", "past_ids")
    stages = [
        FetchPastItems("build-1", users=INPUT, past="past_ids"),
        RetrieveCandidates(None, 10, Rules(), INPUT, "past_ids", "retrieved_ids"),
        FilterCandidates(10, Rules(), "retrieved_ids", "past_ids", "candidate_ids"),
        UnrollUserFeatures((INPUT,), "candidate_ids"),
        OrderByScore(None, 5, inputs),
    ]
    with pytest.raises(WiringError, match="click_scores") as caught:
        serving_graph(stages, OUTPUTS)
    assert "OrderByScore" in str(caught.value)


def test_a_correctly_wired_chain_builds_with_the_declared_outputs() -> None:
    ensemble = serving_graph(
        [
            FetchPastItems("build-1", users=INPUT, past="past_ids"),
            RetrieveCandidates(None, 10, Rules(), INPUT, "past_ids", "retrieved_ids"),
            FilterCandidates(10, Rules(), "retrieved_ids", "past_ids", "candidate_ids"),
        ]
    )
    assert set(ensemble.output_schema.column_names) == {
        INPUT,
        "past_ids",
        "retrieved_ids",
        "candidate_ids",
    }
