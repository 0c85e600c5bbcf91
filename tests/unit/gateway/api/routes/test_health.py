"""/healthz, /readyz (which check failed) and /metrics (optionally behind the key)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from services.gateway.core.triton import ModelState
from tests.unit.gateway.stubs import StubOnlineStore, StubRecommender, unavailable


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_ready_when_model_ready_and_redis_holds_its_build(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "problems": [],
        "replicas": [{"replica": 0, "state": "ready"}],
    }


@pytest.mark.parametrize(
    ("model", "held", "redis_down", "problem"),
    [
        (unavailable(), "build-1", False, "triton: unreachable"),
        (ModelState(ready=False, build_id=None), "build-1", False, "triton: model not ready"),
        (ModelState(ready=True, build_id="build-1"), None, False, "redis: holds no build"),
        (ModelState(ready=True, build_id=None), None, False, "redis: holds no build"),
        (ModelState(ready=True, build_id="build-2"), "build-1", False, "holds build build-1"),
        (ModelState(ready=True, build_id="build-1"), "build-1", True, "redis: unreachable"),
    ],
)
def test_not_ready_says_which_check_failed(
    client: TestClient,
    recommender: StubRecommender,
    store: StubOnlineStore,
    model: ModelState | Exception,
    held: str | None,
    redis_down: bool,
    problem: str,
) -> None:
    recommender.state, store.held_build, store.down = model, held, redis_down
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert any(problem in found for found in body["problems"]), body
    assert "10.0.0" not in response.text


def test_without_a_build_id_in_the_model_any_online_build_will_do(
    client: TestClient, recommender: StubRecommender, store: StubOnlineStore
) -> None:
    recommender.state, store.held_build = ModelState(ready=True, build_id=None), "build-9"
    assert client.get("/readyz").status_code == 200


def test_both_down_lists_both(
    client: TestClient, recommender: StubRecommender, store: StubOnlineStore
) -> None:
    recommender.state, store.down = unavailable(), True
    assert client.get("/readyz").json()["problems"] == ["triton: unreachable", "redis: unreachable"]


def test_metrics_open_by_default(client: TestClient) -> None:
    client.get("/healthz")
    text = client.get("/metrics").text
    assert 'gateway_requests_total{model_version="none",route="/healthz",status="200"} 1.0' in text


def test_metrics_behind_the_key_when_asked(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_key="s3cret-key", metrics_require_key=True)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"X-API-Key": "nope"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret-key"}).status_code == 200


def test_metrics_key_not_asked_stays_open(make_client: Callable[..., TestClient]) -> None:
    assert make_client(api_key="s3cret-key").get("/metrics").status_code == 200
