"""PUT, DELETE and GET /items/{item_id}, PUT and GET /users/{user_id} in process, against a real
redis-server (the session's: tests/conftest.py): status codes, what Redis holds after each, the
422s, 413, 401, 429, 503 and 405 answers."""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.ensemble.contract import (
    ITEM_FEATURES,
    ONLINE_ITEM_CHANGES_KEY,
    ONLINE_ITEMS_KEY,
    ONLINE_USERS_KEY,
    USER_FEATURES,
)
from services.gateway.api import deps
from services.gateway.api.routes import page
from services.gateway.core.catalogue_store import CatalogueStore
from services.gateway.core.config import Settings
from services.gateway.main import create_app
from services.gateway.schemas import ItemAttributes, UserAttributes
from tests.conftest import flushed_db, free_port

DB = 13  # a database no other test uses (tests/unit/gateway/test_openapi.py's too)
KEY = "k3y-for-tests-0123456789"
SHOE = {"item_category": 3, "item_shop": 40, "item_brand": 500}
BOOT = {"item_category": 3, "item_shop": 41, "item_brand": -7}
PERSON = {name: index for index, name in enumerate(USER_FEATURES)}
ROUTES = [
    ("PUT", "/items/7", SHOE),
    ("DELETE", "/items/7", None),
    ("GET", "/items/7", None),
    ("PUT", "/users/7", PERSON),
    ("GET", "/users/7", None),
]


def use_catalogue(app: FastAPI, redis_url: str) -> None:
    """The app's catalogue store: a real one on `redis_url`, one per request (TestClient runs
    each request in an event loop of its own; the app's lifespan is not run)."""
    settings = Settings(redis_url=redis_url, request_timeout_s=0.5)  # type: ignore[arg-type]

    async def store() -> AsyncIterator[CatalogueStore]:
        catalogue = CatalogueStore.from_settings(settings)
        try:
            yield catalogue
        finally:
            await catalogue.close()

    app.dependency_overrides[deps.get_catalogue_store] = store


@pytest.fixture()
def held(redis_server: str) -> Iterator[redis.Redis]:
    """The database the catalogue routes write to, empty before and after."""
    with flushed_db(redis_server, DB) as connection:
        yield connection


@pytest.fixture()
def catalogue_client(
    make_client: Callable[..., TestClient], redis_server: str, held: redis.Redis
) -> Callable[..., TestClient]:
    """catalogue_client(**settings): make_client's app, its catalogue on the real Redis."""

    def make(**settings: Any) -> TestClient:
        client = make_client(**settings)
        use_catalogue(client.app, f"{redis_server}/{DB}")  # type: ignore[arg-type]
        return client

    return make


@pytest.fixture()
def client(catalogue_client: Callable[..., TestClient]) -> TestClient:
    return catalogue_client()


def record(held: redis.Redis, key: str, field: int) -> dict[str, Any] | None:
    raw = held.hget(key, str(field))
    return None if raw is None else dict(json.loads(raw))


def changes(held: redis.Redis) -> list[int]:
    return [int(item) for item in held.lrange(ONLINE_ITEM_CHANGES_KEY, 0, -1)]


def test_a_new_item_is_201_and_a_replaced_one_200(client: TestClient, held: redis.Redis) -> None:
    first = client.put("/items/7", json=SHOE)
    assert first.status_code == 201
    body = first.json()
    assert body == {
        "item_id": 7,
        "attributes": SHOE,
        "retired": False,
        "updated_at": body["updated_at"],
        "created": True,
    }
    assert record(held, ONLINE_ITEMS_KEY, 7) == {
        "attributes": SHOE,
        "retired": False,
        "updated_at": body["updated_at"],
    }
    assert changes(held) == [7]
    second = client.put("/items/7", json=BOOT)
    assert second.status_code == 200
    assert second.json()["created"] is False and second.json()["attributes"] == BOOT
    assert record(held, ONLINE_ITEMS_KEY, 7)["attributes"] == BOOT  # type: ignore[index]
    assert changes(held) == [7, 7]


def test_get_shows_the_record_without_created(client: TestClient) -> None:
    put = client.put("/items/7", json=SHOE).json()
    got = client.get("/items/7")
    assert got.status_code == 200
    assert got.json() == {key: value for key, value in put.items() if key != "created"}


def test_delete_retires_keeps_the_attributes_and_is_idempotent(
    client: TestClient, held: redis.Redis
) -> None:
    client.put("/items/7", json=SHOE)
    retired = client.delete("/items/7")
    assert retired.status_code == 200
    body = retired.json()
    assert body["retired"] is True and body["attributes"] == SHOE and "created" not in body
    assert record(held, ONLINE_ITEMS_KEY, 7) == {
        "attributes": SHOE,
        "retired": True,
        "updated_at": body["updated_at"],
    }
    again = client.delete("/items/7")
    assert again.status_code == 200 and again.json() == body
    assert changes(held) == [7, 7]


def test_a_retired_item_is_gone_for_get_until_a_put_takes_it_back(
    client: TestClient, held: redis.Redis
) -> None:
    client.put("/items/7", json=SHOE)
    client.delete("/items/7")
    gone = client.get("/items/7")
    assert gone.status_code == 404 and "retired" in gone.json()["detail"]
    back = client.put("/items/7", json=BOOT)
    assert back.status_code == 200
    assert back.json()["retired"] is False and back.json()["attributes"] == BOOT
    assert record(held, ONLINE_ITEMS_KEY, 7)["retired"] is False  # type: ignore[index]
    assert client.get("/items/7").status_code == 200


def test_an_item_only_the_build_has_can_be_retired(client: TestClient, held: redis.Redis) -> None:
    retired = client.delete("/items/9")
    assert retired.status_code == 200
    assert retired.json()["attributes"] is None and retired.json()["retired"] is True
    assert record(held, ONLINE_ITEMS_KEY, 9)["attributes"] is None  # type: ignore[index]
    assert changes(held) == [9]


def test_an_item_never_written_online_is_404(client: TestClient) -> None:
    response = client.get("/items/5")
    assert response.status_code == 404
    assert response.json() == {"detail": "item 5 was not added or retired online"}


def test_users_are_201_then_200_and_read_back(client: TestClient, held: redis.Redis) -> None:
    assert client.get("/users/-5").status_code == 404
    first = client.put("/users/-5", json={**PERSON, "user_age": 99})
    assert first.status_code == 201 and first.json()["created"] is True
    second = client.put("/users/-5", json=PERSON)
    assert second.status_code == 200 and second.json()["created"] is False
    stored = record(held, ONLINE_USERS_KEY, -5)
    assert stored == {"attributes": PERSON, "updated_at": second.json()["updated_at"]}
    got = client.get("/users/-5")
    assert got.status_code == 200
    assert got.json() == {"user_id": -5, "attributes": PERSON, "updated_at": stored["updated_at"]}
    assert changes(held) == []


def test_an_integral_number_is_an_integer(client: TestClient, held: redis.Redis) -> None:
    response = client.put("/items/7", json={**SHOE, "item_shop": 40.0})
    assert response.status_code == 201
    assert record(held, ONLINE_ITEMS_KEY, 7)["attributes"] == SHOE  # type: ignore[index]


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("/items/7", {**SHOE, "colour": 1}, "colour: Extra inputs are not permitted"),
        ("/users/7", {**PERSON, "user_height": 1}, "user_height: Extra inputs"),
        ("/items/7", {"item_category": 3, "item_shop": 40}, "item_brand: Field required"),
        ("/users/7", {**PERSON, "user_age": None}, "user_age: Input should be a valid integer"),
        ("/items/7", {**SHOE, "item_brand": "7.5"}, "item_brand: Input should be a valid integer"),
        ("/items/7", {**SHOE, "item_brand": "x"}, "item_brand: Input should be a valid integer"),
        ("/items/7", {**SHOE, "item_brand": "7"}, "item_brand: Input should be a valid integer"),
        ("/items/7", {**SHOE, "item_brand": True}, "item_brand: Input should be a valid integer"),
        ("/items/7", {**SHOE, "item_brand": 7.5}, "item_brand: Input should be a valid integer"),
        ("/items/7", {**SHOE, "item_brand": 2**31}, "item_brand: Input should be less than"),
        ("/users/7", {**PERSON, "user_age": -(2**31) - 1}, "user_age: Input should be greater"),
        ("/items/7", [SHOE], "body: Input should be a valid dictionary"),
        ("/items/x", SHOE, "item_id: Input should be a valid integer"),
        ("/items/7.5", SHOE, "item_id: Input should be a valid integer"),
        ("/items/true", SHOE, "item_id: Input should be a valid integer"),
        ("/items/2147483648", SHOE, "item_id: Input should be less than or equal to 2147483647"),
        ("/items/-1", SHOE, "item_id: Input should be greater than or equal to 0"),
        ("/users/2147483648", PERSON, "user_id: Input should be less than or equal"),
        ("/users/-2147483649", PERSON, "user_id: Input should be greater than or equal"),
    ],
)
def test_bad_puts_are_422_naming_the_problem_and_store_nothing(
    client: TestClient, held: redis.Redis, path: str, body: object, named: str
) -> None:
    response = client.put(path, json=body)
    assert response.status_code == 422
    assert named in response.json()["detail"]
    assert held.dbsize() == 0


@pytest.mark.parametrize(
    ("method", "path", "named"),
    [
        ("GET", "/items/x", "item_id: Input should be a valid integer"),
        ("DELETE", "/items/x", "item_id: Input should be a valid integer"),
        ("DELETE", "/items/-1", "item_id: Input should be greater than or equal to 0"),
        ("GET", "/items/2147483648", "item_id: Input should be less than or equal to 2147483647"),
        ("DELETE", "/items/2147483648", "item_id: Input should be less than or equal"),
        ("GET", "/users/2147483648", "user_id: Input should be less than or equal to 2147483647"),
        ("GET", "/users/1.5", "user_id: Input should be a valid integer"),
    ],
)
def test_bad_ids_are_422(
    client: TestClient, held: redis.Redis, method: str, path: str, named: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == 422
    assert named in response.json()["detail"]
    assert held.dbsize() == 0


@pytest.mark.parametrize("path", ["/items/7", "/users/7"])
def test_a_body_over_the_limit_is_413(
    catalogue_client: Callable[..., TestClient], held: redis.Redis, path: str
) -> None:
    client = catalogue_client(max_body_bytes=64)
    padded = json.dumps(PERSON if path.startswith("/users") else SHOE).encode() + b" " * 100
    response = client.put(path, content=padded, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "64 bytes" in response.json()["detail"]
    assert held.dbsize() == 0


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_a_configured_key_is_required_by_every_route(
    catalogue_client: Callable[..., TestClient],
    held: redis.Redis,
    method: str,
    path: str,
    body: object,
) -> None:
    client = catalogue_client(api_key=KEY)
    refused = client.request(method, path, json=body)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert held.dbsize() == 0
    allowed = client.request(method, path, json=body, headers={"X-API-Key": KEY})
    assert allowed.status_code in (200, 201, 404)


@pytest.mark.parametrize(("method", "path", "body"), [r for r in ROUTES if r[0] != "GET"])
def test_writes_past_the_burst_are_429(
    catalogue_client: Callable[..., TestClient], method: str, path: str, body: object
) -> None:
    client = catalogue_client(write_rate_per_s=0.25, write_burst=1)
    assert client.request(method, path, json=body).status_code in (200, 201)
    refused = client.request(method, path, json=body)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "4"
    assert client.get(path).status_code in (200, 404)  # reads are not limited


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_redis_unreachable_is_503_with_retry_after_and_no_address(
    make_client: Callable[..., TestClient], method: str, path: str, body: object
) -> None:
    client = make_client()
    port = free_port()
    use_catalogue(client.app, f"redis://127.0.0.1:{port}/0")  # type: ignore[arg-type]
    response = client.request(method, path, json=body)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json()["detail"] == "catalogue store unavailable; retry after 1 s"
    assert str(port) not in response.text and response.json()["request_id"]


@pytest.mark.parametrize(
    ("path", "allow"),
    [("/items/7", "DELETE, GET, PUT"), ("/users/-7", "GET, PUT"), ("/users/sample", "GET")],
)
def test_other_methods_are_405_naming_every_method_of_the_path(
    client: TestClient, path: str, allow: str
) -> None:
    for method in ("POST", "PATCH", "OPTIONS", *(("PUT", "DELETE") if "sample" in path else ())):
        response = client.request(method, path)
        assert (response.status_code, response.headers["Allow"]) == (405, allow)


def test_users_sample_keeps_its_route(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """/users/{user_id} takes any segment: it must come after /users/sample."""

    async def scan(settings: Settings, count: int) -> list[int]:
        return [3]

    monkeypatch.setattr(page, "scan_sample", scan)
    response = client.get("/users/sample")
    assert (response.status_code, response.json()) == (200, [3])


def test_writes_are_counted_by_kind(client: TestClient) -> None:
    client.put("/items/7", json=SHOE)
    client.put("/items/7", json=SHOE)
    client.delete("/items/7")
    client.put("/users/7", json=PERSON)
    metrics = client.get("/metrics").text
    for kind in ("item_added", "item_replaced", "item_retired", "user_added"):
        assert f'gateway_catalogue_writes_total{{kind="{kind}"}} 1.0' in metrics


def test_the_attribute_models_are_the_contracts_features() -> None:
    assert tuple(ItemAttributes.model_fields) == ITEM_FEATURES
    assert tuple(UserAttributes.model_fields) == USER_FEATURES
    for model in (ItemAttributes, UserAttributes):
        for field in model.model_json_schema()["properties"].values():
            assert (field["minimum"], field["maximum"]) == (-(2**31), 2**31 - 1)


def test_the_app_makes_and_closes_its_catalogue_store(
    redis_server: str, held: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without overrides: the lifespan's store writes to GATEWAY_REDIS_URL, closed at the end."""
    closed: list[CatalogueStore] = []
    close = CatalogueStore.close

    async def recorded_close(self: CatalogueStore) -> None:
        closed.append(self)
        await close(self)

    monkeypatch.setattr(CatalogueStore, "close", recorded_close)
    settings = Settings(triton_url="127.0.0.1:1", redis_url=f"{redis_server}/{DB}")  # type: ignore[arg-type]
    try:
        with TestClient(create_app(settings)) as client:
            assert client.put("/items/7", json=SHOE).status_code == 201
            store = client.app.state.catalogue_store  # type: ignore[attr-defined]
            assert isinstance(store, CatalogueStore) and closed == []
    finally:
        gc.unfreeze()  # the lifespan froze the heap
    assert closed == [store]
    assert record(held, ONLINE_ITEMS_KEY, 7)["attributes"] == SHOE  # type: ignore[index]
