"""Click attribution and the A/B decision on the real stack: a real tritonserver serving two
builds side by side (version 1: the session build; version 2: a deliberately worse build of the
same planted world trained on 5% of its rows), real gateways with GATEWAY_AB, a real Redis.

* A click posted with an answer's request_id is attributed to that answer's arm, version and
  position in Redis, counted once, and the counters survive a gateway restart; an answer's
  record expires after its TTL and the rate cap bounds what is written.
* A simulated population (the planted generator's users, clicking each shown item with its true
  probability, `loadtests.click_population`) drives traffic and clicks through the gateway;
  `python -m loadtests.ab_report` then names version 1's arm the better one, with a
  significant difference, and each arm's attributed CTR agrees with what the truth expects.
* The page sends the request_id with its click and its live table shows the arm's clicks.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import redis
import requests

from services.ensemble.contract import (
    ATTRIBUTION_PREFIX,
    MODEL_NAME,
    arm_counts_key,
    impression_key,
)
from services.gateway.core.ab import ABSplit, parse_split
from tests.conftest import (
    REPO_ROOT,
    TEST_ROWS,
    TEST_SEED,
    Gateway,
    flushed_db,
    serve_versions,
    serving,
)
from tests.integration.test_gateway import metric
from training.build.artifacts import ARTIFACTS
from training.build.manifest import build_id as build_id_of

pytestmark = pytest.mark.slow

DB = 14  # a database no other test uses
SPLIT = "1:50,2:50"
WORSE_SHARE = 0.05
"""The worse build learns from this share of the session build's train and valid rows."""
POPULATION_REQUESTS = 600
ATTRIBUTION_ENV = {
    "GATEWAY_AB": SPLIT,
    "GATEWAY_ATTRIBUTION_MAX_PER_S": "0",  # record every answer
    "GATEWAY_ATTRIBUTION_FLUSH_S": "0.05",
    "GATEWAY_ATTRIBUTION_REFRESH_S": "0.2",
    "GATEWAY_WRITE_RATE_PER_S": "0",
}


@dataclass
class Stack:
    url: str
    """Redis (db DB): both builds' online state, the attribution keys."""
    triton: Any
    gateway: Gateway

    def start_gateway(self, **env: str) -> Gateway:
        return Gateway(
            self.triton.grpc_url, self.url, timeout_s=10.0, extra_env={**ATTRIBUTION_ENV, **env}
        )


def build_worse(out: Path, redis_url: str) -> Path:
    """The session build's world (planted, TEST_ROWS, TEST_SEED), WORSE_SHARE of its rows."""
    from training.build.pipeline import BuildConfig, run
    from training.data.raw_data import RawData, validate
    from training.data.synthetic import planted

    world = planted(TEST_ROWS, TEST_SEED, 0.3)
    train = world.train.sample(frac=WORSE_SHARE, random_state=1)
    valid = world.valid.sample(frac=WORSE_SHARE, random_state=1)
    raw = RawData(validate(train, "train"), validate(valid, "valid"), "planted, 5% of the rows")
    run(BuildConfig(out=out, redis_url=redis_url, rows=TEST_ROWS, seed=TEST_SEED), raw=raw)
    return out


def two_builds(repository: Path, good: Path, worse: Path) -> None:
    """good as version 1, worse as version 2 of the executor model, both served."""
    from training.build.export import export_repository

    export_repository(good, repository)
    export_repository(worse, repository, version=2)
    serve_versions(repository / MODEL_NAME, [1, 2])


@pytest.fixture(scope="module")
def stack(
    build_dir: Path, redis_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    from training.build.materialize import materialize

    url = f"{redis_server}/{DB}"
    with flushed_db(redis_server, DB):
        materialize(build_dir, url, build_id_of(build_dir))
        started = time.monotonic()
        worse = build_worse(tmp_path_factory.mktemp("worse") / "build", url)
        print(f"worse build ({WORSE_SHARE:.0%} of the rows): {time.monotonic() - started:.1f} s")
        repository = tmp_path_factory.mktemp("ab_builds")
        two_builds(repository, build_dir, worse)
        with serving(repository, url, timeout=300) as server:
            stack = Stack(url, server, Gateway(server.grpc_url, url, 10.0, ATTRIBUTION_ENV))
            try:
                yield stack
            finally:
                stack.gateway.stop()  # the one a test may have started in its place


@pytest.fixture(scope="module")
def known_users(build_dir: Path) -> list[int]:
    path = build_dir / ARTIFACTS["feature_repo"] / "data" / "user_features.parquet"
    return sorted(int(u) for u in pd.read_parquet(path, columns=["user_id"])["user_id"].unique())


def user_on_arm(users: list[int], arm: int, skip: int = 0) -> int:
    split = ABSplit(parse_split(SPLIT))
    return [user for user in users if split.version_for(user) == arm][skip]


def recommend(gateway: Gateway, user: int) -> dict[str, Any]:
    response = requests.get(f"{gateway.url}/recommend", params={"user_id": user}, timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def click(gateway: Gateway, user: int, item: int, request_id: str) -> dict[str, Any]:
    body = {"user_id": user, "item_id": item, "request_id": request_id}
    response = requests.post(f"{gateway.url}/interactions", json=body, timeout=30)
    assert response.status_code == 201, response.text
    attribution: dict[str, Any] = response.json()["attribution"]
    return attribution


def attribution_stats(gateway: Gateway) -> dict[str, Any]:
    stats = requests.get(f"{gateway.url}/stats", timeout=10).json()["attribution"]
    assert stats is not None
    result: dict[str, Any] = stats
    return result


def eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not within the timeout"
        time.sleep(0.05)


def forget_attribution(url: str) -> None:
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=f"{ATTRIBUTION_PREFIX}*", count=1000):
        client.delete(key)


def test_the_ab_report_names_the_better_build(stack: Stack) -> None:
    from loadtests.click_population import drive, summary
    from training.data.synthetic import planted

    forget_attribution(stack.url)
    truth = planted(TEST_ROWS, TEST_SEED, 0.3).truth
    assert truth is not None
    started = time.monotonic()
    result = drive(stack.gateway.url, truth, POPULATION_REQUESTS, workers=4, seed=11)
    print(f"\n{POPULATION_REQUESTS} requests in {time.monotonic() - started:.1f} s")
    print(summary(result))
    assert result.errors == [], result.errors[:5]
    assert set(result.by_version) == {1, 2}  # each arm answered by its own build
    assert set(result.attribution) == {"attributed"}, result.attribution  # every click

    reported = subprocess.run(
        [sys.executable, "-m", "loadtests.ab_report", "--gateway", stack.gateway.url],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    print(reported.stdout)
    assert reported.returncode == 0, reported.stderr
    assert "better arm: 1 (version 1)" in reported.stdout
    assert re.search(r"arm 1 - arm 2: \+\d+\.\d+ points .*: significant at 0\.05", reported.stdout)

    # what the gateway attributed is what the population clicked, and the truth expects
    rows = {row["arm"]: row for row in attribution_stats(stack.gateway)["arms"]}
    for version, tally in result.by_version.items():
        row = rows[str(version)]
        assert row["model_version"] == str(version)
        assert (row["requests"], row["recorded"]) == (tally.answers, tally.answers)
        assert (row["impressions"], row["clicks"]) == (tally.impressions, tally.clicks)
        expected = tally.expected_clicks / tally.impressions
        spread = math.sqrt(expected * (1 - expected) / tally.impressions)
        assert abs(row["ctr"] - expected) < 4 * spread, (version, row["ctr"], expected)
    assert rows["1"]["ctr_low"] > rows["2"]["ctr_high"]


def test_a_click_is_attributed_in_redis_once_and_the_counts_survive_a_restart(
    stack: Stack, known_users: list[int]
) -> None:
    client = redis.Redis.from_url(stack.url)
    user = user_on_arm(known_users, 1, skip=3)
    answer = recommend(stack.gateway, user)
    request_id, items = answer["request_id"], [entry["item_id"] for entry in answer["items"]]
    eventually(lambda: client.exists(impression_key(request_id)) == 1)
    assert json.loads(client.get(impression_key(request_id))) == [user, "1", "1", items]
    assert 1700 < client.ttl(impression_key(request_id)) <= 1800  # the default TTL
    before = client.hgetall(arm_counts_key("1", "1"))

    assert click(stack.gateway, user, items[3], request_id) == {
        "status": "attributed",
        "arm": "1",
        "model_version": "1",
        "position": 3,
    }
    assert click(stack.gateway, user, items[3], request_id)["status"] == "repeat"
    assert click(stack.gateway, user, 1, request_id) == {"status": "not_shown"}
    assert click(stack.gateway, user + 1, items[0], request_id) == {"status": "other_user"}
    assert click(stack.gateway, user, items[0], "0" * 32) == {"status": "unknown_request"}
    after = client.hgetall(arm_counts_key("1", "1"))
    assert int(after[b"clicks:3"]) == int(before.get(b"clicks:3", 0)) + 1
    assert {k: v for k, v in after.items() if k != b"clicks:3"} == {
        k: v for k, v in before.items() if k != b"clicks:3"
    }

    counts = attribution_stats(stack.gateway)
    eventually(
        lambda: metric(stack.gateway, "gateway_ab_clicks_total", arm="1", model_version="1")
        == next(r["clicks"] for r in counts["arms"] if r["arm"] == "1")
    )
    stack.gateway.stop()
    restarted = stack.start_gateway()
    stack.gateway = restarted  # the module's gateway from now on
    assert attribution_stats(restarted) == counts  # kept in Redis, not in the process


def test_records_expire_after_their_ttl_and_the_rate_cap_bounds_them(
    stack: Stack, known_users: list[int]
) -> None:
    client = redis.Redis.from_url(stack.url)
    gateway = stack.start_gateway(GATEWAY_ATTRIBUTION_TTL_S="5", GATEWAY_ATTRIBUTION_MAX_PER_S="2")
    counts = arm_counts_key("2", "2")
    try:
        user = user_on_arm(known_users, 2, skip=5)
        before = {k.decode(): int(v) for k, v in client.hgetall(counts).items()}
        started = time.monotonic()
        answers = [recommend(gateway, user) for _ in range(30)]
        elapsed = time.monotonic() - started
        eventually(lambda: int(client.hget(counts, "requests")) == before["requests"] + 30)
        recorded = [a for a in answers if client.exists(impression_key(a["request_id"]))]
        assert 1 <= len(recorded) <= 2 + math.ceil(2 * elapsed)  # a second's burst + the rate
        assert int(client.hget(counts, "recorded")) - before["recorded"] == len(recorded)
        first = recorded[0]
        ttl = client.ttl(impression_key(first["request_id"]))
        assert 0 < ttl <= 5
        eventually(lambda: client.exists(impression_key(first["request_id"])) == 0, 8)
        status = click(gateway, user, first["items"][0]["item_id"], first["request_id"])
        assert status == {"status": "unknown_request"}  # expired: a plain interaction
    finally:
        gateway.stop()


def test_the_page_attributes_its_click_and_shows_the_arms(
    stack: Stack, known_users: list[int]
) -> None:
    import shutil

    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is missing: `make browser` installs it")
    user = user_on_arm(known_users, 2, skip=7)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            page.goto(f"{stack.gateway.url}/")
            page.fill("#user-id", str(user))
            page.click("#go")
            page.wait_for_function("document.querySelectorAll('#items tbody tr').length === 10")
            page.click("#items tbody tr >> nth=1 >> button.click-item")
            page.wait_for_function(
                "document.querySelector('#message').textContent.includes('Attributed')"
            )
            assert "arm 2, version 2, position 2" in page.inner_text("#message")
            page.wait_for_function(  # arm 2's row counts the click (polled every 2 s)
                """[...document.querySelectorAll('#live-ab tbody tr')].some(
                    row => row.children[0].textContent === '2'
                        && Number(row.children[4].textContent) > 0)"""
            )
            cells = page.eval_on_selector_all(
                "#live-ab tbody tr",
                "rows => rows.map(r => [...r.children].map(c => c.textContent))",
            )
        finally:
            browser.close()
    rows = {row[0]: row for row in cells}
    assert rows["2"][1] == "2" and int(rows["2"][4]) >= 1  # this click among arm 2's
    assert re.fullmatch(r"\d+\.\d%", rows["2"][5]) and "–" in rows["2"][6]
