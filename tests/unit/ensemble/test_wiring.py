"""The graph's wiring is checked when it is built: a missing column fails there, by name."""

from __future__ import annotations

import numpy as np
import pytest
from merlin.schema import ColumnSchema, Schema
from merlin.systems.dag import Ensemble

from services.ensemble.contract import INPUT, OUTPUTS
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

REQUEST = Schema([ColumnSchema(INPUT, dtype=np.int32, dims=(None,))])


def test_a_stage_reading_a_column_nobody_writes_fails_at_build_time() -> None:
    graph = (
        [INPUT]
        >> FetchPastItems("build-1", users=INPUT, past="past_ids")
        >> FilterCandidates(10, Rules(), "retrieved_ids", "past_ids", "candidate_ids")
    )
    with pytest.raises(WiringError, match=r"FilterCandidates reads \['retrieved_ids'\]"):
        Ensemble(graph, REQUEST)


def test_a_misspelt_column_deep_in_the_graph_fails_at_build_time() -> None:
    inputs = OrderInputs("candidate_ids", "click_scores", "item_found", "cat", "found", "past_ids")
    graph = (
        [INPUT]
        >> FetchPastItems("build-1", users=INPUT, past="past_ids")
        >> RetrieveCandidates(None, 10, Rules(), INPUT, "past_ids", "retrieved_ids")
        >> FilterCandidates(10, Rules(), "retrieved_ids", "past_ids", "candidate_ids")
        >> UnrollUserFeatures((INPUT,), "candidate_ids")
        >> OrderByScore(None, 5, inputs)
    )
    with pytest.raises(WiringError, match="click_scores") as caught:
        Ensemble(graph[list(OUTPUTS)], REQUEST)
    assert "OrderByScore" in str(caught.value)


def test_a_correctly_wired_chain_builds_with_the_declared_outputs() -> None:
    graph = (
        [INPUT]
        >> FetchPastItems("build-1", users=INPUT, past="past_ids")
        >> RetrieveCandidates(None, 10, Rules(), INPUT, "past_ids", "retrieved_ids")
        >> FilterCandidates(10, Rules(), "retrieved_ids", "past_ids", "candidate_ids")
    )
    ensemble = Ensemble(graph, REQUEST)
    assert set(ensemble.output_schema.column_names) == {
        INPUT,
        "past_ids",
        "retrieved_ids",
        "candidate_ids",
    }
