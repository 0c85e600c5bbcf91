"""POST /interactions in process: recording, 422, 503, the API key."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.unit.gateway.stubs import StubOnlineStore

KEY = "k3y-for-tests-0123456789"


def test_records_into_the_store_and_says_whether_new(
    client: TestClient, store: StubOnlineStore
) -> None:
    first = client.post("/interactions", json={"user_id": 7, "item_id": 70})
    assert first.status_code == 201
    assert first.json() == {"user_id": 7, "item_id": 70, "new": True}
    assert client.post("/interactions", json={"user_id": 7, "item_id": 70}).json()["new"] is False
    assert store.sets == {7: {70}}


def test_an_integral_number_is_an_integer_as_json_schema_says(
    client: TestClient, store: StubOnlineStore
) -> None:
    """JSON does not tell 7 from 7.0: the OpenAPI document's `integer` accepts both."""
    response = client.post("/interactions", json={"user_id": 7.0, "item_id": 70.0})
    assert response.status_code == 201
    assert response.json()["user_id"] == 7 and store.sets == {7: {70}}


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": 1},
        {"user_id": "1", "item_id": 2},
        {"user_id": 1.5, "item_id": 2},
        {"user_id": True, "item_id": 2},
        {"user_id": 1, "item_id": "2"},
        {"user_id": 1, "item_id": -1},
        {"user_id": 2**31, "item_id": 1},
        {"user_id": 1, "item_id": 2, "extra": 3},
    ],
)
def test_bad_bodies_get_422(client: TestClient, store: StubOnlineStore, body: object) -> None:
    response = client.post("/interactions", json=body)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)
    assert store.sets == {}


def test_many_bad_keys_give_a_small_422(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=400_000)  # past the default limit, to reach validation
    body = {"user_id": 1, "item_id": 2, **{f"k{i}": 0 for i in range(5_000)}}
    response = client.post("/interactions", json=body)
    assert response.status_code == 422
    assert len(response.content) < 2_000
    assert "4990 more problems" in response.json()["detail"]


def test_redis_down_gives_503_with_retry_after_and_no_address(
    client: TestClient, store: StubOnlineStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.down = True
    with caplog.at_level(logging.WARNING, logger="services.gateway"):
        response = client.post("/interactions", json={"user_id": 1, "item_id": 2})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert "10.0.0.7" not in response.text and "ConnectionError" not in response.text
    assert response.json()["request_id"] in caplog.text and "10.0.0.7" in caplog.text


def test_body_over_the_limit_gets_413(
    make_client: Callable[..., TestClient], store: StubOnlineStore
) -> None:
    client = make_client(max_body_bytes=64)
    padded = b'{"user_id": 1, "item_id": 2' + b" " * 100 + b"}"
    response = client.post(
        "/interactions", content=padded, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "64 bytes" in response.json()["detail"]
    assert store.sets == {}


def test_chunked_body_over_the_limit_gets_413(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=64)

    def chunks() -> object:
        yield b'{"user_id": 1, "item_id": 2'
        yield b" " * 100 + b"}"

    response = client.post(
        "/interactions", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_without_a_configured_key_no_key_is_needed(client: TestClient) -> None:
    assert client.post("/interactions", json={"user_id": 1, "item_id": 2}).status_code == 201


@pytest.mark.parametrize(
    ("headers", "status", "word"),
    [
        ({}, 401, "required"),
        ({"Authorization": "Bearer wrong"}, 401, "not valid"),
        ({"X-API-Key": "wrong"}, 401, "not valid"),
        ({"Authorization": f"Basic {KEY}"}, 401, "not valid"),
        ({"Authorization": "Bearer wrong", "X-API-Key": KEY}, 401, "not valid"),
        ({"Authorization": "Basic x", "X-API-Key": KEY}, 401, "not valid"),
        ({"Authorization": f"Bearer {KEY}", "X-API-Key": KEY}, 201, None),
        ({"Authorization": f"Bearer {KEY}"}, 201, None),
        ({"X-API-Key": KEY}, 201, None),
    ],
)
def test_configured_key_is_required(
    make_client: Callable[..., TestClient],
    store: StubOnlineStore,
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str],
    status: int,
    word: str | None,
) -> None:
    client = make_client(api_key=KEY)
    with caplog.at_level(logging.DEBUG):
        response = client.post("/interactions", json={"user_id": 1, "item_id": 2}, headers=headers)
    assert response.status_code == status
    if word is not None:
        assert word in response.json()["detail"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert store.sets == {}
    assert KEY not in caplog.text and KEY not in response.text


def test_recommend_needs_no_key(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_key=KEY)
    assert client.get("/recommend", params={"user_id": 1}).status_code == 200


def test_writes_past_the_burst_get_429_with_retry_after(
    make_client: Callable[..., TestClient], store: StubOnlineStore
) -> None:
    client = make_client(write_rate_per_s=0.25, write_burst=2)
    for item in (1, 2):
        assert client.post("/interactions", json={"user_id": 1, "item_id": item}).status_code == 201
    refused = client.post("/interactions", json={"user_id": 1, "item_id": 3})
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "4"  # one token per 4 s
    assert refused.headers["content-type"] == "application/json"
    assert refused.json() == {"detail": "too many writes from this address; retry after 4 s"}
    assert store.sets == {1: {1, 2}}


def test_the_write_limit_leaves_reads_alone(make_client: Callable[..., TestClient]) -> None:
    client = make_client(write_rate_per_s=0.25, write_burst=1)
    client.post("/interactions", json={"user_id": 1, "item_id": 1})
    for _ in range(5):
        assert client.get("/recommend", params={"user_id": 1}).status_code == 200


def test_a_write_rate_of_zero_means_no_limit(
    make_client: Callable[..., TestClient], store: StubOnlineStore
) -> None:
    client = make_client(write_rate_per_s=0, write_burst=1)
    for item in range(30):
        assert client.post("/interactions", json={"user_id": 1, "item_id": item}).status_code == 201
    assert len(store.sets[1]) == 30


def test_guessing_the_key_uses_up_the_burst_too(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_key=KEY, write_rate_per_s=0.25, write_burst=2)
    guesses = [
        client.post("/interactions", json={"user_id": 1, "item_id": 2}, headers={"X-API-Key": g})
        for g in ("a", "b", "c")
    ]
    assert [guess.status_code for guess in guesses] == [401, 401, 429]
