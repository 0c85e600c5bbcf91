"""`make results`: bad input is one line and exit 2; the summary's tables read the JSON files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests import results
from loadtests.results_summary import write_summary


def test_a_real_log_without_its_future_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = results.main(["--generators", "", "--data", f"log={tmp_path}", "--out", str(tmp_path)])
    assert code == 2
    assert (
        capsys.readouterr().err.strip()
        == f"error: --data 'log={tmp_path}': {tmp_path}/future.parquet missing"
    )


def test_unknown_generators_and_tiny_sizes_are_refused() -> None:
    with pytest.raises(SystemExit) as unknown:
        results.parse(["--generators", "planted,nope"])
    with pytest.raises(SystemExit) as tiny:
        results.parse(["--rows", "10"])
    assert unknown.value.code == tiny.value.code == 2


def figures(recall: float, ndcg: float) -> dict[str, float]:
    return {"recall_at_10": recall, "ndcg_at_10": ndcg, "hit_at_10": 0.5}


def test_the_summary_is_made_from_the_json_files(tmp_path: Path) -> None:
    (tmp_path / "quality").mkdir()
    (tmp_path / "builds").mkdir()
    (tmp_path / "quality" / "ml.json").write_text(
        json.dumps(
            {
                "users": 1234,
                "errors": 0,
                "served": figures(0.2, 0.15),
                "most_clicked": figures(0.1, 0.05),
                "ease": figures(0.15, 0.1),
            }
        )
    )
    top10 = {
        "served_ndcg_at_10": 0.03,
        "segment_popular_ndcg_at_10": 0.031,
        "ease_ndcg_at_10": 0.02,
        "served_debiased_ndcg_at_10": 0.002,
        "dlrm_order_debiased_ndcg_at_10": 0.0021,
        "ease_debiased_ndcg_at_10": 0.001,
    }
    build = {"timings_s": {"total": 66.0, "ranking": 26.0}, "peak_rss_mb": 1560.2}
    (tmp_path / "builds" / "ml.json").write_text(
        json.dumps({**build, "evaluation": {"top10": top10}})
    )
    write_summary(tmp_path, ["ml", "missing"], 100_000, 42)
    text = (tmp_path / "summary.md").read_text()
    assert "| ml | 1,234 | 0 | **0.200 / 0.150** | 0.100 / 0.050 | 0.150 / 0.100 | 1.50x |" in text
    row = (
        "| ml | 66.0 | 0.0 | 26.0 | 0.0 | 1560 | 0.0300 | segment_popular 0.0310 "
        "| 0.0020 | dlrm_order 0.0021 |"
    )
    assert row in text
    assert "missing" not in text and "Serving" not in text
