"""The Redis client's options (password, TLS) and the keys the store writes; real Redis servers
(password, TLS) are in tests/integration/test_gateway.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from redis.asyncio.connection import SSLConnection
from redis.exceptions import ConnectionError as RedisConnectionError

from services.ensemble.contract import ONLINE_BUILD_KEY, online_interactions_key
from services.gateway.core.config import Settings
from services.gateway.core.online_store import OnlineStore, OnlineStoreUnavailable, connect


def pool_options(settings: Settings) -> dict[str, Any]:
    client = connect(settings)
    return {
        "class": client.connection_pool.connection_class,
        **client.connection_pool.connection_kwargs,
    }


def test_password_from_the_url_or_the_setting() -> None:
    assert pool_options(Settings(redis_url="redis://:in-url@h:1/0"))["password"] == "in-url"  # type: ignore[arg-type]
    options = pool_options(Settings(redis_url="redis://h:1/0", redis_password="own"))  # type: ignore[arg-type]
    assert options["password"] == "own"


def test_tls_with_a_ca_file(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    options = pool_options(Settings(redis_url="rediss://h:1/0", redis_ca_file=ca))  # type: ignore[arg-type]
    assert options["class"] is SSLConnection
    assert options["ssl_ca_certs"] == str(ca)
    assert pool_options(Settings())["class"] is not SSLConnection


def test_timeouts_follow_the_request_timeout() -> None:
    options = pool_options(Settings(request_timeout_s=0.25))
    assert options["socket_timeout"] == options["socket_connect_timeout"] == 0.25


class RecordingClient:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def sadd(self, *args: Any) -> int:
        self.calls.append(("sadd", args))
        if self.fail:
            raise RedisConnectionError("Error 111 connecting to 10.0.0.7:6379.")
        return 1

    async def get(self, *args: Any) -> bytes:
        self.calls.append(("get", args))
        return b"2026-11-28T00:00:00+00:00"


def test_interactions_go_to_the_online_set_and_the_build_is_read() -> None:
    client = RecordingClient()
    store = OnlineStore(client)  # type: ignore[arg-type]
    assert asyncio.run(store.record_interaction(5, 50)) is True
    assert asyncio.run(store.build_id()) == "2026-11-28T00:00:00+00:00"
    assert client.calls == [
        ("sadd", (online_interactions_key(5), 50)),
        ("get", (ONLINE_BUILD_KEY,)),
    ]


def test_redis_errors_become_unavailable() -> None:
    store = OnlineStore(RecordingClient(fail=True))  # type: ignore[arg-type]
    try:
        asyncio.run(store.record_interaction(5, 50))
    except OnlineStoreUnavailable as exc:
        assert "10.0.0.7" in str(exc)  # for the log; the route keeps it out of the body
    else:
        raise AssertionError("no OnlineStoreUnavailable")
