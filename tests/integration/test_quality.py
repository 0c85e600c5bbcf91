"""Recommendation quality on both synthetic worlds (planted and longtail), from the session
builds: each model beside its baselines on the valid split, and the true click probability
(known to the generator) of the top-10 the models choose."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from training import manifest

pytestmark = pytest.mark.slow

GENERATORS = ("planted", "longtail")
BUILD_FIXTURE = {"planted": "build_dir", "longtail": "longtail_build_dir"}


@pytest.fixture(scope="module", params=GENERATORS)
def build(request: pytest.FixtureRequest) -> Path:
    return Path(request.getfixturevalue(BUILD_FIXTURE[request.param]))


@pytest.fixture(scope="module")
def table(build: Path) -> dict[str, Any]:
    evaluation: dict[str, Any] = manifest.read(build)["evaluation"]
    return evaluation


def test_dlrm_beats_item_ctr_by_at_least_0_08_auc(table: dict[str, Any]) -> None:
    ranking = table["ranking"]
    assert ranking["dlrm_auc"] >= ranking["item_ctr_auc"] + 0.08, ranking


def test_merged_candidates_recall_1_3_times_the_most_clicked(table: dict[str, Any]) -> None:
    retrieval = table["retrieval"]
    assert (
        retrieval["merged_recall_at_100"] >= 1.3 * retrieval["most_clicked_recall_at_100"]
    ), retrieval


def test_no_model_below_its_baseline(table: dict[str, Any]) -> None:
    assert [w for w in table["warnings"] if "merged" in w or "dlrm" in w] == []


def test_models_top10_has_a_higher_true_click_probability_than_most_clicked(
    build: Path,
) -> None:
    from training import evaluate_build

    quality = evaluate_build.run(build, None)["true_click_probability"]
    assert quality["models_top10"] > quality["most_clicked_top10"], quality
    assert quality["models_top10"] > quality["random_items"], quality
