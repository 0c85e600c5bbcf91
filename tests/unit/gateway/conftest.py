"""In-process gateway tests: the app with stub Triton and Redis edges, no servers.

They run in the gateway's environment (`.venvs/gateway/bin/python -m pytest tests/unit/gateway`,
part of `make test`); the Merlin environment (pydantic 1) cannot import the gateway and skips
this folder.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from tests.unit.gateway.stubs import StubAttributionStore, StubOnlineStore, StubRecommender

if importlib.util.find_spec("pydantic_settings") is None:
    collect_ignore_glob = ["*"]


@pytest.fixture()
def recommender() -> StubRecommender:
    from tests.unit.gateway.stubs import StubRecommender

    return StubRecommender()


@pytest.fixture()
def store() -> StubOnlineStore:
    from tests.unit.gateway.stubs import StubOnlineStore

    return StubOnlineStore()


@pytest.fixture()
def attribution_store() -> StubAttributionStore:
    from tests.unit.gateway.stubs import StubAttributionStore

    return StubAttributionStore()


@pytest.fixture()
def make_client(
    recommender: StubRecommender, store: StubOnlineStore, attribution_store: StubAttributionStore
) -> Iterator[Callable[..., TestClient]]:
    """make_client(**settings) -> a TestClient on an app whose Triton and Redis are the stubs
    (no lifespan: impressions stay in the app's ImpressionLog until a test flushes them)."""
    from fastapi.testclient import TestClient

    from services.gateway.api import deps
    from services.gateway.core.config import Settings
    from services.gateway.main import create_app

    clients: list[TestClient] = []

    def make(**settings: Any) -> TestClient:
        app = create_app(Settings(**settings))
        app.dependency_overrides[deps.get_recommender] = lambda: recommender
        app.dependency_overrides[deps.get_online_store] = lambda: store
        app.dependency_overrides[deps.get_attribution_store] = lambda: attribution_store
        client = TestClient(app, raise_server_exceptions=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture()
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
