"""The A/B split: GATEWAY_AB's checks, shares on 10,000 distinct users, a user's stable version,
and the version the gateway asks Triton for (the real-server check is in
tests/integration/test_gateway_ab.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.gateway.core.ab import ABSplit, parse_split
from services.gateway.core.config import Settings, problems_of
from services.gateway.core.metrics import Metrics
from services.gateway.core.replicas import ReplicaPool
from tests.unit.gateway.stubs import StubRecommender

REPO_ROOT = Path(__file__).resolve().parents[4]
USERS = range(-2_000, 8_000)  # 10,000 distinct ids, negatives (unknown users) included


@pytest.mark.parametrize(
    "text", ["2:90,3:10", "1:50,2:50", "4:33.3,5:33.3,6:33.4", "7:1,8:99", "3:100"]
)
def test_observed_shares_on_10000_users_are_within_2_points(text: str) -> None:
    split = parse_split(text)
    counts = Counter(ABSplit(split).version_for(user) for user in USERS)
    for version, share in split:
        assert abs(100 * counts[version] / len(USERS) - share) < 2, (version, counts)


def test_a_user_always_gets_the_same_version() -> None:
    """Twice in this process, and in another process with another hash seed (Python's own
    hash() of a str would differ there): every gateway process assigns alike."""
    mine = [ABSplit(parse_split("2:90,3:10")).version_for(u) for u in USERS]
    assert mine == [ABSplit(parse_split("2:90,3:10")).version_for(u) for u in USERS]
    code = (
        "from services.gateway.core.ab import ABSplit, parse_split\n"
        "split = ABSplit(parse_split('2:90,3:10'))\n"
        f"print(''.join(str(split.version_for(u)) for u in range({USERS.start}, {USERS.stop})))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert other.stdout.strip() == "".join(str(v) for v in mine)


def test_shifting_a_share_moves_only_the_users_it_must() -> None:
    before, after = ABSplit(parse_split("2:90,3:10")), ABSplit(parse_split("2:80,3:20"))
    moved = [u for u in USERS if before.version_for(u) != after.version_for(u)]
    assert all(before.version_for(u) == 2 and after.version_for(u) == 3 for u in moved)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("2:90,3:5", "add up to 95, not 100"),
        ("2:90,2:10", "listed twice"),
        ("2-90", "not version:share"),
        ("0:100", "not version:share"),
        ("x:100", "not version:share"),
        ("2:90,3:ten", "not version:share"),
        ("2:110,3:-10", "not version:share"),
        ("2:90,", "not version:share"),
    ],
)
def test_a_bad_split_is_one_line_naming_the_variable(text: str, words: str) -> None:
    with pytest.raises(ValidationError) as error:
        Settings(ab=text)
    [line] = problems_of(error.value)
    assert line.startswith("GATEWAY_AB: ") and words in line


def test_the_setting_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_AB", " 2:90 , 3:10 ")
    settings = Settings()
    assert settings.ab == "2:90,3:10"
    assert settings.ab_split is not None and settings.ab_split.versions == [2, 3]
    assert Settings(ab="").ab_split is None


def ask(settings: Settings, users: range) -> list[int | None]:
    replica = StubRecommender()

    async def run() -> None:
        pool = ReplicaPool(settings, Metrics(), [replica])
        for user in users:
            await pool.rank(user)

    asyncio.run(run())
    return replica.versions


def test_the_pool_asks_triton_for_the_users_version() -> None:
    settings = Settings(ab="2:90,3:10")
    split = settings.ab_split
    assert split is not None
    assert ask(settings, range(200)) == [split.version_for(u) for u in range(200)]
    assert ask(Settings(), range(5)) == [None] * 5  # no split: Triton's latest
