"""GET /recommend records what it showed; POST /interactions with that request_id is attributed
to the answer's A/B arm, model version and position; /stats shows CTR@k per arm and version.
In process, with the stub edges (the flush is called by the test: no lifespan here)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.gateway.core.attribution import ImpressionFlusher
from services.gateway.core.impressions import ImpressionLog
from services.gateway.core.triton import Ranking
from tests.unit.gateway.stubs import StubAttributionStore, StubRecommender, unavailable


def flush(client: TestClient, store: StubAttributionStore) -> None:
    """What the lifespan's background task does every GATEWAY_ATTRIBUTION_FLUSH_S."""
    state = client.app.state  # type: ignore[attr-defined]
    flusher = ImpressionFlusher(
        state.impression_log,
        store,  # type: ignore[arg-type]  # the stub of the Redis edge
        state.latest_counts,
        state.settings,
        state.metrics,
    )
    asyncio.run(flusher.flush())


def log_of(client: TestClient) -> ImpressionLog:
    log: ImpressionLog = client.app.state.impression_log  # type: ignore[attr-defined]
    return log


def click(client: TestClient, user: int, item: int, request_id: str) -> dict[str, Any]:
    body = {"user_id": user, "item_id": item, "request_id": request_id}
    response = client.post("/interactions", json=body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_an_answer_is_recorded_in_memory_and_written_by_the_flush(
    client: TestClient, attribution_store: StubAttributionStore
) -> None:
    answer = client.get("/recommend", params={"user_id": 42, "k": 3}).json()
    shown = log_of(client).shown(answer["request_id"])
    assert shown is not None and shown.item_ids == (100, 101, 102)
    assert (shown.user_id, shown.arm, shown.model_version) == (42, "all", "1")
    assert attribution_store.impressions == {}  # nothing written on the request path
    flush(client, attribution_store)
    assert attribution_store.impressions[answer["request_id"]] == shown
    assert attribution_store.hashes[("all", "1")]["requests"] == 1


def test_failed_answers_record_nothing(
    client: TestClient, recommender: StubRecommender, attribution_store: StubAttributionStore
) -> None:
    recommender.failure = unavailable()
    assert client.get("/recommend", params={"user_id": 1}).status_code == 503
    flush(client, attribution_store)
    assert attribution_store.impressions == {} and attribution_store.hashes == {}


def test_the_arm_is_the_splits_and_the_version_the_one_that_answered(
    make_client: Callable[..., TestClient],
    recommender: StubRecommender,
    attribution_store: StubAttributionStore,
) -> None:
    client = make_client(ab="1:50,3:50", attribution_max_per_s=0)
    recommender.ranking = Ranking(item_ids=[5, 6], scores=[1, 0], fallback=False, model_version=2)
    for user in range(20):
        client.get("/recommend", params={"user_id": user})
    flush(client, attribution_store)
    assert set(attribution_store.hashes) == {("1", "2"), ("3", "2")}


def test_a_click_with_the_request_id_is_attributed_once(
    client: TestClient, attribution_store: StubAttributionStore
) -> None:
    first = client.get("/recommend", params={"user_id": 42}).json()["request_id"]
    second = client.get("/recommend", params={"user_id": 42}).json()["request_id"]
    flush(client, attribution_store)
    before_flush = client.get("/recommend", params={"user_id": 42}).json()["request_id"]
    expected = {"status": "attributed", "arm": "all", "model_version": "1", "position": 3}
    answer = click(client, 42, 103, first)
    assert answer == {
        "user_id": 42,
        "item_id": 103,
        "request_id": first,
        "new": True,
        "attribution": expected,
    }
    assert click(client, 42, 103, first)["attribution"] == {**expected, "status": "repeat"}
    assert click(client, 42, 100, second)["attribution"]["position"] == 0
    assert click(client, 42, 109, before_flush)["attribution"]["status"] == "attributed"
    assert attribution_store.hashes[("all", "1")] == {
        "requests": 2,  # the third answer's count waits for the next flush
        "recorded": 2,
        **{f"impressions:{p}": 2 for p in range(10)},
        "clicks:3": 1,
        "clicks:0": 1,
        "clicks:9": 1,
    }


@pytest.mark.parametrize(
    ("user", "item", "request_id", "status"),
    [
        (42, 100, "0" * 32, "unknown_request"),
        (42, 555, None, "not_shown"),
        (43, 100, None, "other_user"),
    ],
)
def test_clicks_no_answer_explains_are_accepted_and_counted_as_unattributed(
    client: TestClient,
    attribution_store: StubAttributionStore,
    user: int,
    item: int,
    request_id: str | None,
    status: str,
) -> None:
    shown = client.get("/recommend", params={"user_id": 42}).json()["request_id"]
    answer = click(client, user, item, request_id or shown)
    assert answer["new"] is True and answer["attribution"] == {"status": status}
    assert attribution_store.unattributed == {status: 1}
    assert "clicks" not in str(attribution_store.hashes)


def test_a_plain_interaction_says_nothing_of_attribution(
    client: TestClient, attribution_store: StubAttributionStore
) -> None:
    response = client.post("/interactions", json={"user_id": 7, "item_id": 70})
    assert response.json() == {"user_id": 7, "item_id": 70, "new": True}
    assert attribution_store.unattributed == {}


@pytest.mark.parametrize("request_id", ["abc", "G" * 32, "A" * 32, "0" * 33, 5])
def test_a_malformed_request_id_gets_422(client: TestClient, request_id: object) -> None:
    body = {"user_id": 1, "item_id": 2, "request_id": request_id}
    response = client.post("/interactions", json=body)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("request_id:")


def test_redis_failing_during_attribution_gives_503_without_the_address(
    client: TestClient,
    attribution_store: StubAttributionStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    attribution_store.down = True
    with caplog.at_level(logging.WARNING, logger="services.gateway"):
        response = client.post(
            "/interactions", json={"user_id": 1, "item_id": 2, "request_id": "1" * 32}
        )
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert "10.0.0.7" not in response.text and "10.0.0.7" in caplog.text


def test_stats_show_ctr_at_k_per_arm_and_version(
    client: TestClient, attribution_store: StubAttributionStore
) -> None:
    ids = [client.get("/recommend", params={"user_id": 42}).json()["request_id"] for _ in range(4)]
    flush(client, attribution_store)
    click(client, 42, 100, ids[0])
    click(client, 42, 101, ids[1])
    click(client, 42, 109, ids[2])
    click(client, 42, 100, "f" * 32)
    attribution = client.get("/stats").json()["attribution"]
    assert attribution["k"] == 10
    assert attribution["unattributed_clicks"] == {"unknown_request": 1}
    (row,) = attribution["arms"]
    assert {key: row[key] for key in ("arm", "model_version", "requests", "recorded")} == {
        "arm": "all",
        "model_version": "1",
        "requests": 4,
        "recorded": 4,
    }
    assert (row["impressions"], row["clicks"], row["ctr"]) == (40, 3, 0.075)
    assert row["ctr_low"] == pytest.approx(0.0258, abs=1e-4)
    assert row["ctr_high"] == pytest.approx(0.1986, abs=1e-4)
    top2 = client.get("/stats", params={"k": 2}).json()["attribution"]
    assert top2["k"] == 2
    assert (top2["arms"][0]["impressions"], top2["arms"][0]["clicks"]) == (8, 2)
    metrics = client.get("/metrics").text  # /stats' read refreshed the metrics' counts
    assert 'gateway_ab_clicks_total{arm="all",model_version="1"} 3.0' in metrics


def test_stats_without_redis_still_show_the_latency_panel(
    client: TestClient, attribution_store: StubAttributionStore
) -> None:
    client.get("/recommend", params={"user_id": 1})
    attribution_store.down = True
    stats = client.get("/stats")
    assert stats.status_code == 200
    assert stats.json()["attribution"] is None and stats.json()["requests"] == 1
