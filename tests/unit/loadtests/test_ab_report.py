"""The A/B report: arms summed over their versions, the better arm named only when it beats
every other one significantly, and the printed lines."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from loadtests import ab_report
from loadtests.ab_report import Arm, arms_of, decide, report


def row(
    arm: str, version: str, impressions: int, clicks: int, requests: int = 100
) -> dict[str, Any]:
    return {
        "arm": arm,
        "model_version": version,
        "requests": requests,
        "recorded": requests // 2,
        "impressions": impressions,
        "clicks": clicks,
    }


def test_an_arms_versions_are_summed() -> None:
    stats = {"arms": [row("2", "2", 900, 90), row("1", "1", 1000, 150), row("2", "1", 100, 10)]}
    assert arms_of(stats) == [
        Arm("2", ("2", "1"), 200, 100, 1000, 100),
        Arm("1", ("1",), 100, 50, 1000, 150),
    ]


def test_a_significant_difference_names_the_better_arm() -> None:
    arms = arms_of({"arms": [row("1", "1", 10_000, 2_300), row("2", "2", 10_000, 1_200)]})
    decision = decide(arms, alpha=0.05)
    assert decision.better is not None and decision.better.name == "1"
    text = report(arms, decision, 10, {"unknown_request": 3})
    assert "arm 1 - arm 2: +11.00 points" in text and "significant at 0.05" in text
    assert "z = 20.47, p = 3.9e-93" in text
    assert "better arm: 1 (version 1), CTR@10 23.00% vs 12.00% (arm 2)" in text
    assert "unattributed clicks: 3 (unknown_request 3)" in text
    assert "[22.19%, 23.84%]" in text  # arm 1's Wilson interval


def test_a_vanishing_p_value_is_printed_as_a_bound() -> None:
    arms = arms_of({"arms": [row("1", "1", 10_000, 9_000), row("2", "2", 10_000, 1_000)]})
    assert "p < 1e-300" in report(arms, decide(arms, alpha=0.05), 10, {})


def test_a_small_difference_names_no_arm() -> None:
    arms = arms_of({"arms": [row("1", "1", 1000, 105), row("2", "2", 1000, 100)]})
    decision = decide(arms, alpha=0.05)
    assert decision.better is None
    text = report(arms, decision, 10, {})
    assert "not significant" in text and "no better arm" in text
    assert "unattributed" not in text


def test_with_three_arms_the_best_must_beat_both_at_a_corrected_level() -> None:
    # 1 beats 3 clearly, and 2 at p ~ 0.04: significant alone, not at 0.05 / 2
    arms = arms_of(
        {"arms": [row("1", "1", 2000, 264), row("2", "2", 2000, 220), row("3", "3", 2000, 100)]}
    )
    decision = decide(arms, alpha=0.05)
    tests = {other.name: test for _, other, test in decision.comparisons}
    assert tests["2"] is not None and 0.025 < tests["2"].p_value < 0.05
    assert decision.better is None
    assert "significant at 0.025" in report(arms, decision, 10, {})


def test_fewer_than_two_arms_with_impressions_make_no_decision() -> None:
    arms = arms_of({"arms": [row("1", "1", 100, 5), row("2", "2", 0, 0)]})
    decision = decide(arms, alpha=0.05)
    assert decision.comparisons == () and decision.better is None
    assert "fewer than two arms" in report(arms, decision, 10, {})


class Answer:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status_code, self._body, self.text = status, body, str(body)

    def json(self) -> dict[str, Any]:
        return self._body


def test_unreadable_counters_end_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter([Answer(200, {"attribution": None}), Answer(422, {"detail": "k: bad"})])
    monkeypatch.setattr(ab_report.requests, "get", lambda *a, **k: next(answers))
    with pytest.raises(SystemExit, match="Redis unavailable"):
        ab_report.main(["--gateway", "http://gw"])
    with pytest.raises(SystemExit, match="answered 422"):
        ab_report.main(["--k", "0"])

    def refused(*args: Any, **kwargs: Any) -> None:
        raise requests.ConnectionError("refused")

    monkeypatch.setattr(ab_report.requests, "get", refused)
    with pytest.raises(SystemExit, match="unreachable: ConnectionError"):
        ab_report.main([])


def test_main_prints_the_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stats = {"k": 5, "arms": [row("1", "1", 500, 50)], "unattributed_clicks": {}}
    asked: list[Any] = []

    def get(url: str, params: dict[str, int], timeout: float) -> Answer:
        asked.append((url, params))
        return Answer(200, {"attribution": stats})

    monkeypatch.setattr(ab_report.requests, "get", get)
    assert ab_report.main(["--gateway", "http://gw/", "--k", "5"]) == 0
    assert asked == [("http://gw/stats", {"k": 5})]
    assert "CTR@5" in capsys.readouterr().out
