"""`python -m training rules ...`: one line for every failure, Redis untouched by a bad file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import redis

from services.ensemble.contract import RULES_KEY
from training import cli
from training.ops import rules_command


def test_a_bad_file_is_one_line_and_never_reaches_redis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens: not reached
    bad = tmp_path / "rules.json"
    bad.write_text(json.dumps({"deny_items": [1], "max_per_category": "x"}))
    assert cli.main(["rules", "set", str(bad)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: rules file {bad}: max_per_category must be an integer >= 0"
    ]


def test_redis_down_is_one_line_without_its_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    assert cli.main(["rules", "show"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: Redis at REDIS_URL failed: ConnectionError"
    ]


def test_set_show_clear(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    redis_server: str,
) -> None:
    monkeypatch.setenv("REDIS_URL", f"{redis_server}/6")
    good = tmp_path / "rules.json"
    good.write_text(json.dumps({"deny_items": [3, 1], "max_per_category": 2}))
    try:
        assert cli.main(["rules", "set", str(good)]) == 0
        assert cli.main(["rules", "show"]) == 0
        assert cli.main(["rules", "clear"]) == 0
        assert cli.main(["rules", "show"]) == 0
    finally:
        redis.Redis.from_url(f"{redis_server}/6").delete(RULES_KEY)
    assert capsys.readouterr().out.splitlines() == [
        'rules version 1 set: {"deny_items": [1, 3], "max_per_category": 2}',
        'rules version 1: {"deny_items": [1, 3], "max_per_category": 2}',
        "rules removed from Redis: the exported rules apply",
        "no rules in Redis: the exported rules apply",
    ]


def test_an_unexpected_failure_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(args: argparse.Namespace) -> int:
        raise RuntimeError("something unforeseen\nsecond line")

    monkeypatch.setattr(rules_command, "run", broken)
    assert cli.main(["rules", "show"]) == 1
    assert capsys.readouterr().err.splitlines() == ["error: RuntimeError: something unforeseen"]
