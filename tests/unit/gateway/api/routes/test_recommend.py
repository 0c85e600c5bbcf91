"""GET /recommend in process: answers, 422, and the 503/502 mapping of Triton's failures."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from services.gateway.core.triton import Ranking
from tests.unit.gateway.stubs import StubRecommender, failed, unavailable


def test_answer_is_the_rankers_order_cut_to_k(
    client: TestClient, recommender: StubRecommender
) -> None:
    response = client.get("/recommend", params={"user_id": 42, "k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == 42
    assert [item["item_id"] for item in body["items"]] == [100, 101, 102]
    assert [item["score"] for item in body["items"]] == pytest.approx([1.0, 0.9, 0.8])
    assert body["fallback"] is False
    assert body["model"] == "executor_model"
    assert body["model_version"] == 1
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert recommender.calls == [42]


def test_default_k_is_the_maximum(client: TestClient) -> None:
    assert len(client.get("/recommend", params={"user_id": 1}).json()["items"]) == 10


def test_fallback_answers_are_marked_and_counted(
    client: TestClient, recommender: StubRecommender
) -> None:
    recommender.ranking = Ranking(
        item_ids=[7, 8], scores=[0.0, 0.0], fallback=True, model_version=3
    )
    body = client.get("/recommend", params={"user_id": -5}).json()
    assert body["fallback"] is True and body["model_version"] == 3
    assert 'gateway_fallbacks_total{model_version="3"} 1.0' in client.get("/metrics").text


@pytest.mark.parametrize(
    ("params", "word"),
    [
        ({}, "user_id"),
        ({"user_id": "abc"}, "user_id"),
        ({"user_id": "1.5"}, "user_id"),
        ({"user_id": str(2**31)}, "user_id"),
        ({"user_id": str(-(2**31) - 1)}, "user_id"),
        ({"user_id": "1", "k": "0"}, "k"),
        ({"user_id": "1", "k": "11"}, "k"),
        ({"user_id": "1", "k": "many"}, "k"),
    ],
)
def test_bad_parameters_get_422_with_a_message(
    client: TestClient, recommender: StubRecommender, params: dict[str, str], word: str
) -> None:
    response = client.get("/recommend", params=params)
    assert response.status_code == 422
    assert word in response.json()["detail"]
    assert recommender.calls == []


def test_k_range_follows_the_setting_and_is_in_the_schema(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(max_k=5)
    assert client.get("/recommend", params={"user_id": 1, "k": 6}).status_code == 422
    assert len(client.get("/recommend", params={"user_id": 1}).json()["items"]) == 5
    parameters = client.get("/openapi.json").json()["paths"]["/recommend"]["get"]["parameters"]
    k = next(p for p in parameters if p["name"] == "k")["schema"]
    assert (k["minimum"], k["maximum"], k["default"]) == (1, 5, 5)


@pytest.mark.parametrize("outcome", ["unavailable", "timeout", "model_unavailable"])
def test_retryable_failures_get_503_with_retry_after_and_no_internals(
    make_client: Callable[..., TestClient],
    recommender: StubRecommender,
    caplog: pytest.LogCaptureFixture,
    outcome: str,
) -> None:
    client = make_client(retry_after_s=3)
    recommender.failure = unavailable(outcome)
    with caplog.at_level(logging.WARNING, logger="services.gateway"):
        response = client.get("/recommend", params={"user_id": 1})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "3"
    body = response.json()
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert "10.0.0.9" not in response.text and "StatusCode" not in response.text
    logged = caplog.text
    assert body["request_id"] in logged and "10.0.0.9" in logged and outcome in logged


def test_model_errors_get_502_without_internals_and_are_logged(
    client: TestClient, recommender: StubRecommender, caplog: pytest.LogCaptureFixture
) -> None:
    recommender.failure = failed()
    with caplog.at_level(logging.ERROR, logger="services.gateway"):
        response = client.get("/recommend", params={"user_id": 1})
    assert response.status_code == 502
    assert "Retry-After" not in response.headers
    assert "KeyError" not in response.text and "10.0.0.9" not in response.text
    assert response.json()["request_id"] in caplog.text
    assert "KeyError" in caplog.text


def test_a_bug_gives_a_plain_500_logged_with_the_request_id(
    client: TestClient, recommender: StubRecommender, caplog: pytest.LogCaptureFixture
) -> None:
    recommender.failure = ZeroDivisionError("secret internals")
    with caplog.at_level(logging.ERROR, logger="services.gateway"):
        response = client.get("/recommend", params={"user_id": 1})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error"}
    assert "secret" not in response.text
    assert response.headers["X-Request-ID"] in caplog.text
    assert "ZeroDivisionError" in caplog.text
