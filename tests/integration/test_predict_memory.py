"""Serving a SavedModel allocates nothing that outlives the request.

TensorFlow 2.12's eager tensors leak a small block each on Python 3.11 (about 1.4 kB per request
over the two models, seen as linear RSS growth in every Triton model process); the stage runs the
models through a TF1 session instead. tracemalloc counts Python-level allocations, so this is
deterministic, unlike RSS.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from services.ensemble.contract import ITEM_FEATURES, USER_FEATURES
from services.ensemble.stages import PredictInProcess

pytestmark = pytest.mark.slow
RANKING_INPUTS = ("user_id", *USER_FEATURES, "item_id", *ITEM_FEATURES)
CALLS = 1_000
MAX_BYTES_PER_CALL = 50  # the eager signature call kept ~900 B per call here


def test_ranking_model_calls_do_not_grow_memory(build_dir: Path) -> None:
    artifacts = json.loads((build_dir / "manifest.json").read_text())["artifacts"]
    stage = PredictInProcess(
        build_dir / artifacts["ranking_model"],
        "ranking_model",
        {name: name for name in RANKING_INPUTS},
        "click_score",
    )
    stage.load_artifacts(None)
    columns = {name: np.ones(100, dtype=np.int32) for name in RANKING_INPUTS}

    def call() -> None:
        scores = stage.run(columns)["click_score"]
        assert scores.shape[0] == 100 and np.isfinite(scores).all()

    for _ in range(100):  # warm-up: first-call caches
        call()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(CALLS):
        call()
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert grown / CALLS < MAX_BYTES_PER_CALL, f"{grown / CALLS:.0f} B per call retained"
