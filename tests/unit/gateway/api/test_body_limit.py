"""BodyLimit as an ASGI callable: size, slow bodies, replay, pass-through."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from starlette.types import Message, Receive, Scope, Send

from services.gateway.api.body_limit import BodyLimit


class Echo:
    """An app that reads the body and answers it back, recording that it ran."""

    def __init__(self) -> None:
        self.called = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.called = True
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


def scope(headers: list[tuple[bytes, bytes]], method: str = "POST") -> Scope:
    return {"type": "http", "method": method, "path": "/interactions", "headers": headers}


def chunks(*parts: bytes, stall: bool = False) -> Receive:
    messages = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1 or stall}
        for i, part in enumerate(parts)
    ]

    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)  # a client that stopped sending
        raise AssertionError("unreachable")

    return receive


def run(app: BodyLimit, scope: Scope, receive: Receive) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_body_within_the_limit_is_replayed_whole() -> None:
    echo = Echo()
    sent = run(
        BodyLimit(echo, max_bytes=10, timeout_s=1),
        scope([(b"transfer-encoding", b"chunked")]),
        chunks(b"12345", b"67890"),
    )
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"1234567890"


def test_declared_length_over_the_limit_is_refused_unread() -> None:
    echo = Echo()
    sent = run(
        BodyLimit(echo, max_bytes=10, timeout_s=1),
        scope([(b"content-length", b"11")]),
        chunks(stall=True),
    )
    assert sent[0]["status"] == 413 and not echo.called
    assert (b"connection", b"close") in sent[0]["headers"]
    assert "10 bytes" in json.loads(sent[1]["body"])["detail"]


def test_streamed_body_over_the_limit_is_refused() -> None:
    echo = Echo()
    sent = run(
        BodyLimit(echo, max_bytes=10, timeout_s=1),
        scope([(b"content-length", b"5")]),  # lies: 12 bytes follow
        chunks(b"123456", b"789012"),
    )
    assert sent[0]["status"] == 413 and not echo.called


def test_slow_body_gets_408_within_the_timeout() -> None:
    echo = Echo()
    start = time.monotonic()
    sent = run(
        BodyLimit(echo, max_bytes=100, timeout_s=0.2),
        scope([(b"content-length", b"50")]),
        chunks(b"12345", stall=True),
    )
    assert sent[0]["status"] == 408 and not echo.called
    assert time.monotonic() - start < 1


def test_bad_content_length_gets_400() -> None:
    sent = run(
        BodyLimit(Echo(), max_bytes=100, timeout_s=1),
        scope([(b"content-length", b"abc")]),
        chunks(b""),
    )
    assert sent[0]["status"] == 400


def test_client_gone_mid_body_gets_no_answer() -> None:
    messages: list[Message] = [
        {"type": "http.request", "body": b"12", "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return messages.pop(0)

    echo = Echo()
    assert run(BodyLimit(echo, 100, 1), scope([(b"content-length", b"9")]), receive) == []
    assert not echo.called


@pytest.mark.parametrize("headers", [[], [(b"content-length", b"0")]])
def test_requests_without_a_body_pass_straight_through(
    headers: list[tuple[bytes, bytes]],
) -> None:
    received: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        received.append(await receive())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent = run(BodyLimit(app, 10, 1), scope(headers, method="GET"), chunks(b""))
    assert sent[0]["status"] == 204 and received[0]["body"] == b""
