"""The page, its static files, the live panel's /stats and the known users' key parsing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi.testclient import TestClient

from services.gateway.core.known_users import scan_users, user_of
from tests.unit.gateway.stubs import StubRecommender, unavailable


def test_page_and_its_files_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/page.js">' in page.text and 'id="live"' in page.text
    script = client.get("/static/page.js")
    assert script.status_code == 200 and "/recommend?user_id=" in script.text
    assert client.get("/static/page.css").status_code == 200
    assert client.get("/static/missing.js").status_code == 404


def test_stats_count_the_recommend_answers(
    client: TestClient, recommender: StubRecommender
) -> None:
    for user in (1, 2, 3):
        assert client.get("/recommend", params={"user_id": user}).status_code == 200
    client.get("/recommend", params={"user_id": "x"})
    recommender.failure = unavailable()
    client.get("/recommend", params={"user_id": 4})
    client.get("/healthz")
    stats = client.get("/stats").json()
    assert stats["route"] == "/recommend"
    assert stats["requests"] == 5 and stats["errors"] == 1 and stats["client_errors"] == 1
    assert stats["requests_per_s"] > 0 and stats["p50_ms"] is not None
    assert sum(stats["model_versions"].values()) == 3


def test_user_of_reads_build_interaction_keys_only() -> None:
    assert user_of(b"multi_stage_recsys:interactions:42") == 42
    assert user_of("multi_stage_recsys:b20261128:interactions:{7}") == 7
    assert user_of("multi_stage_recsys:online_interactions:{7}") is None
    assert user_of("multi_stage_recsys:interactions:abc") is None


class Keys:
    """A Redis client's scan_iter over fixed keys (the edge of our code)."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        self.asked: list[str] = []

    async def scan_iter(self, match: str, count: int) -> AsyncIterator[str]:
        self.asked.append(match)
        for key in self.keys:
            yield key


def test_scan_users_stops_at_count() -> None:
    keys = Keys([f"multi_stage_recsys:x:interactions:{{{u}}}" for u in (9, 3, 3, 5, 1)])
    assert asyncio.run(scan_users(keys, 3)) == [3, 5, 9]
    assert keys.asked == ["multi_stage_recsys:*interactions:*"]
