"""ScoreCandidates: the final score from the build's artifacts, as final_score computes it."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from services.ensemble.candidates import segment_keys
from services.ensemble.final_score import ScoreWeights, logit, standardized
from services.ensemble.stages.score_candidates import ScoreCandidates, ScoreInputs
from training.build import itemitem

INPUTS = ScoreInputs(
    "candidate_ids", "click_score", "item_found", "query", "past_ids", ("user_group",)
)


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path | None]:
    weights = np.array([[0.0, 0.5, 0.2], [0.0, 0.0, 0.7], [0.0, 0.0, 0.0]], np.float32)
    itemitem.save_dense(tmp_path / "itemitem_weights.npz", np.array([1, 2, 3]), weights)
    vectors = np.array([[1, 0], [0, 1], [1, 1]], np.float32)
    embedding = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), 2)
    pq.write_table(
        pa.table({"item_id": pa.array([1, 2, 3], pa.int32()), "embedding": embedding}),
        tmp_path / "item_embeddings.parquet",
    )
    pd.DataFrame({"item_id": [3, 2], "clicks": [9, 1]}).to_parquet(tmp_path / "item_clicks.parquet")
    key = int(segment_keys([np.array([4])])[0])
    pd.DataFrame({"segment": [key, key], "item_id": [3, 1]}).to_parquet(
        tmp_path / "segment_popular.parquet"
    )
    return {
        "itemitem": tmp_path / "itemitem_weights.npz",
        "retrieval": tmp_path / "item_embeddings.parquet",
        "popularity": tmp_path / "item_clicks.parquet",
        "segment": tmp_path / "segment_popular.parquet",
    }


def columns() -> dict[str, np.ndarray]:
    return {
        "candidate_ids": np.array([[2, 3, 1, -1]], np.int32),
        "click_score": np.array([0.2, 0.6, 0.4, 0.0], np.float32),
        "item_found": np.array([True, True, True, False]),
        "query": np.array([[2.0, 1.0]], np.float32),
        "past_ids": np.array([[1, -1]], np.int32),
        "user_group": np.array([4], np.int32),
    }


def test_each_part_is_read_from_its_artifact(files: dict[str, Path | None]) -> None:
    weights = ScoreWeights(ranking=1, retrieval=1, itemitem=1, popularity=1, segment=1)
    op = ScoreCandidates(files, weights, INPUTS, "final_score")
    op.load_artifacts()
    parts, valid = op.parts(columns())
    assert valid.tolist() == [[True, True, True, False]]
    assert np.allclose(parts["ranking"][0, :3], logit(np.array([0.2, 0.6, 0.4])))
    assert parts["retrieval"].tolist() == [[1.0, 3.0, 2.0, 0.0]]  # query . item vector
    assert np.allclose(parts["itemitem"], [[0.5, 0.2, 0.0, 0.0]])  # from item 1
    assert np.allclose(parts["popularity"], [[np.log(2), np.log(10), 0.0, 0.0]])
    assert parts["segment"].tolist() == [[0.0, 1.0, 0.5, 0.0]]
    scores = op.run(columns())["final_score"]
    expected = sum(standardized(parts[name], valid) for name in parts)[0]
    assert np.allclose(scores[:3], expected[:3]) and scores[3] == -np.inf


def test_only_the_weighed_parts_are_read_and_copied(files: dict[str, Path | None]) -> None:
    op = ScoreCandidates(files, ScoreWeights(), INPUTS, "final_score")
    assert op.reads == ("candidate_ids", "item_found", "click_score")
    op.load_artifacts()
    scores = op.run(columns())["final_score"]
    assert np.argsort(-scores[:3]).tolist() == [1, 2, 0]  # the DLRM's order
    assert pickle.loads(pickle.dumps(op)).files == {}


def test_without_the_dlrms_weight_its_column_is_not_read(files: dict[str, Path | None]) -> None:
    """The standby's score (services/ensemble/graph.py): no DLRM column in its graph."""
    op = ScoreCandidates(files, ScoreWeights(ranking=0.0, popularity=1.0), INPUTS, "final_score")
    assert "click_score" not in op.reads
    op.load_artifacts()
    given = {name: value for name, value in columns().items() if name != "click_score"}
    assert np.isfinite(op.run(given)["final_score"][:3]).all()


def test_a_missing_artifact_or_segment_columns_fail_when_the_graph_is_built(
    files: dict[str, Path | None], tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError, match="itemitem"):
        ScoreCandidates(
            {**files, "itemitem": tmp_path / "gone.parquet"},
            ScoreWeights(itemitem=1.0),
            INPUTS,
            "final_score",
        )
    no_columns = ScoreInputs("candidate_ids", "click_score", "item_found", "query", "past_ids")
    with pytest.raises(ValueError, match="segment"):
        ScoreCandidates(files, ScoreWeights(segment=1.0), no_columns, "final_score")


def test_the_export_holds_its_own_copies(files: dict[str, Path | None], tmp_path: Path) -> None:
    op = ScoreCandidates(files, ScoreWeights(itemitem=1.0, popularity=1.0), INPUTS, "out")
    exported = tmp_path / "exported"
    exported.mkdir()
    op.save_artifacts(exported)
    assert sorted(p.name for p in (exported / "final_score").iterdir()) == [
        "item_clicks.parquet",
        "itemitem_weights.npz",
    ]
    served = pickle.loads(pickle.dumps(op))
    served.load_artifacts(exported)
    op.load_artifacts()
    assert np.array_equal(served.run(columns())["out"], op.run(columns())["out"])
