"""The OpenAPI document tells the truth: each error status a route answers is documented on it,
none is documented that it does not answer, and each real error body matches the documented
schema (checked by hand below: jsonschema is not in the gateway's lock file)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Message

from services.ensemble.contract import USER_FEATURES
from services.gateway.api.routes import page
from services.gateway.core.config import Settings
from services.gateway.core.online_store import OnlineStoreUnavailable
from tests.conftest import flushed_db, free_port
from tests.unit.gateway.api.routes.test_catalogue import use_catalogue
from tests.unit.gateway.stubs import StubOnlineStore, StubRecommender, failed, unavailable

KEY = "k3y-for-tests-0123456789"
BODY = {"user_id": 1, "item_id": 2}
JSON = {"content-type": "application/json"}
NOT_UTF8 = {"content": b'{"user_id": 1, "x": "\xff"}', "headers": JSON}
TOO_LARGE = {"content": b"1" * 99, "headers": JSON}
SLOW_WRITES = {"write_burst": 1, "write_rate_per_s": 0.01}
ITEM, USER = "/items/{item_id}", "/users/{user_id}"
SHOE = {"item_category": 3, "item_shop": 40, "item_brand": 500}
PERSON = dict.fromkeys(USER_FEATURES, 1)
DB = 13  # the catalogue routes' database (tests/unit/gateway/api/routes/test_catalogue.py's)
JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
    "null": type(None),
}


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: Any


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    status: int
    request: dict[str, Any] = field(default_factory=dict)
    """TestClient.request's keyword arguments."""
    settings: dict[str, Any] = field(default_factory=dict)
    breaks: str | None = None
    """'triton', 'model' or 'redis': that edge fails."""
    times: int = 1
    """Send it this many times; the last answer counts."""
    asgi: Callable[[ASGIApp, str, str], Answer] | None = None
    """For what TestClient cannot send: the request (app, method, url) made at the ASGI level."""
    url: str | None = None
    """Where the request goes, when `path` is a template."""


def call(
    app: ASGIApp, method: str, url: str, headers: list[tuple[bytes, bytes]], body: list[Message]
) -> Answer:
    """`method` `url` at the ASGI level; after `body`, the client sends nothing more."""
    scope = {
        "type": "http",
        "method": method,
        "path": url,
        "raw_path": url.encode(),
        "query_string": b"",
        "headers": headers,
        "http_version": "1.1",
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("testclient", 50000),
        "root_path": "",
    }
    sent: list[Message] = []

    async def receive() -> Message:
        if body:
            return body.pop(0)
        await asyncio.sleep(3600)  # a client that stopped sending
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    start, content = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    headers_sent = {k.decode(): v.decode() for k, v in start["headers"]}
    return Answer(start["status"], headers_sent, json.loads(content))


def content_length_not_a_number(app: ASGIApp, method: str, url: str) -> Answer:
    return call(app, method, url, [(b"content-length", b"12x")], [])


def body_never_finishes(app: ASGIApp, method: str, url: str) -> Answer:
    first = {"type": "http.request", "body": b'{"user_id": 1,', "more_body": True}
    headers = [(b"content-length", b"40"), (b"content-type", b"application/json")]
    return call(app, method, url, headers, [first])


def catalogue_cases(path: str, url: str, body: dict[str, Any]) -> list[Case]:
    """The errors of PUT `path` and GET `path` but 404 (requests to `url`)."""
    put = [
        Case("PUT", path, 400, NOT_UTF8),
        Case("PUT", path, 400, asgi=content_length_not_a_number),
        Case("PUT", path, 401, body, {"api_key": KEY}),
        Case("PUT", path, 408, settings={"body_timeout_s": 0.05}, asgi=body_never_finishes),
        Case("PUT", path, 413, TOO_LARGE, {"max_body_bytes": 9}),
        Case("PUT", path, 422, {"json": {"item_category": "1", "extra": 2}}),
        Case("PUT", path, 429, body, SLOW_WRITES, times=2),
        Case("PUT", path, 503, body, breaks="redis"),
    ]
    get = [
        Case("GET", path, 401, settings={"api_key": KEY}),
        Case("GET", path, 422, url=url.rsplit("/", 1)[0] + "/x"),
        Case("GET", path, 503, breaks="redis"),
    ]
    return [replace(case, url=case.url or url) for case in [*put, *get]]


CASES = [
    Case("GET", "/recommend", 401, {"params": {"user_id": 1, "explain": "true"}}, {"api_key": KEY}),
    Case("GET", "/recommend", 422, {"params": {"user_id": "abc", "k": 0}}),
    Case("GET", "/recommend", 502, {"params": {"user_id": 1}}, breaks="model"),
    Case("GET", "/recommend", 503, {"params": {"user_id": 1}}, breaks="triton"),
    Case("POST", "/interactions", 400, NOT_UTF8),
    Case("POST", "/interactions", 400, asgi=content_length_not_a_number),
    Case("POST", "/interactions", 401, {"json": BODY}, {"api_key": KEY}),
    Case("POST", "/interactions", 408, settings={"body_timeout_s": 0.05}, asgi=body_never_finishes),
    Case("POST", "/interactions", 413, TOO_LARGE, {"max_body_bytes": 9}),
    Case("POST", "/interactions", 422, {"json": {"user_id": "1", "extra": 2}}),
    Case("POST", "/interactions", 429, {"json": BODY}, SLOW_WRITES, times=2),
    Case("POST", "/interactions", 503, {"json": BODY}, breaks="redis"),
    Case("GET", "/users/sample", 401, settings={"api_key": KEY}),
    Case("GET", "/users/sample", 422, {"params": {"count": 0}}),
    Case("GET", "/users/sample", 503, breaks="redis"),
    Case("GET", "/readyz", 503, breaks="redis"),
    Case("GET", "/stats", 422, {"params": {"k": 0}}),
    *catalogue_cases(ITEM, "/items/1", {"json": SHOE}),
    Case("DELETE", ITEM, 401, settings={"api_key": KEY}, url="/items/1"),
    Case("DELETE", ITEM, 422, url="/items/-1"),
    Case("DELETE", ITEM, 429, settings=SLOW_WRITES, times=2, url="/items/1"),
    Case("DELETE", ITEM, 503, breaks="redis", url="/items/1"),
    Case("GET", ITEM, 404, url="/items/1"),
    *catalogue_cases(USER, "/users/1", {"json": PERSON}),
    Case("GET", USER, 404, url="/users/1"),
]


def case_id(case: Case) -> str:
    how = f"-{case.asgi.__name__}" if case.asgi else ""
    return f"{case.method} {case.path} {case.status}{how}"


def document_of(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


@pytest.fixture()
def document(make_client: Callable[..., TestClient]) -> dict[str, Any]:
    """The document of a gateway with an API key: every route's whole set of answers."""
    return document_of(make_client(api_key=KEY))


def test_without_a_key_the_document_asks_for_none_and_promises_no_401(
    make_client: Callable[..., TestClient],
) -> None:
    """Without GATEWAY_API_KEY no route takes a key or answers 401: the document says so (a
    property-based run against it would otherwise expect 401s that never come)."""
    open_document = document_of(make_client())
    operations = [op for ops in open_document["paths"].values() for op in ops.values()]
    assert not any("security" in operation for operation in operations)
    assert not any("401" in operation["responses"] for operation in operations)
    assert "securitySchemes" not in open_document.get("components", {})
    keyed = document_of(make_client(api_key=KEY))
    assert any("security" in op for ops in keyed["paths"].values() for op in ops.values())


def test_with_a_key_recommend_says_it_answers_without_one_too(document: dict[str, Any]) -> None:
    """Only explain=true needs the key on GET /recommend: `{}` (anonymous) is an alternative."""
    assert document["paths"]["/recommend"]["get"]["security"][0] == {}
    assert {} not in document["paths"]["/interactions"]["post"]["security"]


def break_edge(
    edge: str | None,
    recommender: StubRecommender,
    store: StubOnlineStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def redis_down(settings: Settings, count: int) -> list[int]:
        raise OnlineStoreUnavailable("Redis SCAN failed: ConnectionError('10.0.0.7:6379')")

    if edge == "triton":
        recommender.failure = unavailable()
    elif edge == "model":
        recommender.failure = failed()
    elif edge == "redis":
        store.down = True
        monkeypatch.setattr(page, "scan_sample", redis_down)


def answer(case: Case, client: TestClient) -> Answer:
    url = case.url or case.path
    if case.asgi is not None:
        return case.asgi(client.app, case.method, url)
    for _ in range(case.times):
        response = client.request(case.method, url, **case.request)
    return Answer(response.status_code, response.headers, response.json())


def is_json_type(value: Any, kind: str) -> bool:
    """JSON's view: a bool is not a number."""
    return isinstance(value, JSON_TYPES[kind]) and (
        kind == "boolean" or not isinstance(value, bool)
    )


def mismatches(
    value: Any, schema: dict[str, Any], components: dict[str, Any], where: str
) -> list[str]:
    """How `value` departs from `schema`: $ref, anyOf, type, required and properties (a key the
    schema does not name counts too: a body must not say more than its document)."""
    if "$ref" in schema:
        return mismatches(value, components[schema["$ref"].rsplit("/", 1)[1]], components, where)
    if "anyOf" in schema:
        if any(not mismatches(value, option, components, where) for option in schema["anyOf"]):
            return []
        return [f"{where}: {value!r} matches none of {schema['anyOf']}"]
    kind = schema.get("type")
    if kind is None:
        return []
    if not is_json_type(value, kind):
        return [f"{where}: {value!r} is not {kind}"]
    if kind == "array":
        items = schema.get("items", {})
        return [
            problem
            for i, item in enumerate(value)
            for problem in mismatches(item, items, components, f"{where}[{i}]")
        ]
    if kind != "object":
        return []
    properties = schema.get("properties", {})
    problems = [f"{where}.{key}: missing" for key in schema.get("required", []) if key not in value]
    problems += [f"{where}.{key}: not documented" for key in value if key not in properties]
    for key in value.keys() & properties.keys():
        problems += mismatches(value[key], properties[key], components, f"{where}.{key}")
    return problems


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_error_bodies_match_their_documented_schema(
    case: Case,
    document: dict[str, Any],
    make_client: Callable[..., TestClient],
    recommender: StubRecommender,
    store: StubOnlineStore,
    redis_server: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = make_client(**case.settings)
    break_edge(case.breaks, recommender, store, monkeypatch)
    # the catalogue routes' store: a real Redis, or a port nothing listens on
    down = f"redis://127.0.0.1:{free_port()}/0"
    with flushed_db(redis_server, DB):
        use_catalogue(client.app, down if case.breaks == "redis" else f"{redis_server}/{DB}")  # type: ignore[arg-type]
        got = answer(case, client)
    assert got.status == case.status, got.body
    documented = document["paths"][case.path][case.method.lower()]["responses"]
    assert str(case.status) in documented, f"{case.status} is not documented"
    schema = documented[str(case.status)]["content"]["application/json"]["schema"]
    assert mismatches(got.body, schema, document["components"]["schemas"], "body") == []
    for header in documented[str(case.status)].get("headers", {}):
        assert got.headers[header].isdigit(), f"{header} documented, not sent"


def test_every_documented_error_is_one_the_route_answers(document: dict[str, Any]) -> None:
    documented = {
        (method.upper(), path, int(status))
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for status in operation["responses"]
        if int(status) >= 400
    }
    assert documented == {(case.method, case.path, case.status) for case in CASES}


def test_the_frameworks_own_422_schema_is_gone(document: dict[str, Any]) -> None:
    """FastAPI documents 422 as a list of objects; the gateway's 422 is ValidationProblem."""
    assert "HTTPValidationError" not in json.dumps(document)


def test_the_check_catches_a_body_unlike_its_schema(document: dict[str, Any]) -> None:
    components = document["components"]["schemas"]
    problem = {"$ref": "#/components/schemas/ValidationProblem"}
    framework_422 = {"detail": [{"loc": ["query", "k"], "msg": "bad", "type": "x"}]}
    assert mismatches(framework_422, problem, components, "body") == [
        "body.errors: missing",
        f"body.detail: {framework_422['detail']!r} is not string",
    ]
    assert mismatches({"detail": "x", "errors": [], "trace": "..."}, problem, components, "body")
    assert mismatches({"detail": "x", "errors": [1]}, problem, components, "body")
