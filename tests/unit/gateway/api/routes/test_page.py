"""The page, its static files, the live panel's /stats, the known users' key parsing and
/users/sample behind the API key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from fastapi.testclient import TestClient

from services.gateway.api.routes import page
from services.gateway.core.config import Settings
from services.gateway.core.known_users import scan_users, user_of
from services.gateway.core.online_store import OnlineStoreUnavailable
from tests.unit.gateway.stubs import StubRecommender, unavailable

KEY = "k3y-for-tests-0123456789"


def test_page_and_its_files_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/page.js">' in page.text and 'id="live"' in page.text
    script = client.get("/static/page.js")
    assert script.status_code == 200 and "/recommend?user_id=" in script.text
    # the click names its answer; the live panel has a table per A/B arm
    assert "request_id: requestId" in script.text and 'id="live-ab"' in page.text
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


@pytest.fixture()
def scanned(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The counts /users/sample asked Redis for (its SCAN replaced: the edge of our code)."""
    asked: list[int] = []

    async def scan(settings: Settings, count: int) -> list[int]:
        asked.append(count)
        return [3, 5, 9][:count]

    monkeypatch.setattr(page, "scan_sample", scan)
    return asked


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer x"}])
def test_with_a_key_set_users_sample_needs_it(
    make_client: Callable[..., TestClient], scanned: list[int], headers: dict[str, str]
) -> None:
    response = make_client(api_key=KEY).get("/users/sample", headers=headers)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"]
    assert scanned == []


@pytest.mark.parametrize("headers", [{"X-API-Key": KEY}, {"Authorization": f"Bearer {KEY}"}])
def test_with_the_key_users_sample_answers(
    make_client: Callable[..., TestClient], scanned: list[int], headers: dict[str, str]
) -> None:
    response = make_client(api_key=KEY).get("/users/sample?count=2", headers=headers)
    assert response.status_code == 200 and response.json() == [3, 5]
    assert scanned == [2]


def test_without_a_key_set_users_sample_is_open(client: TestClient, scanned: list[int]) -> None:
    assert client.get("/users/sample").json() == [3, 5, 9] and scanned == [6]


def test_users_sample_with_redis_down_is_a_503_with_retry_after(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(settings: Settings, count: int) -> list[int]:
        raise OnlineStoreUnavailable("Redis SCAN failed: ConnectionError('10.0.0.7:6379')")

    monkeypatch.setattr(page, "scan_sample", down)
    response = client.get("/users/sample")
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert "10.0.0.7" not in response.text
