"""Request bodies: at most max_bytes (413), received within timeout_s (408)."""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


class BodyLimit:
    """Pure ASGI middleware. A request that declares or sends a body is read here first, whole,
    against both limits (the Content-Length header alone is not trusted: chunked bodies have
    none), then replayed to the app. Requests without a body pass straight through."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked = _body_headers(scope)
        if declared is None and not chunked:
            await self.app(scope, receive, send)
            return
        if declared == -1:
            await _refuse(send, 400, "Content-Length is not a number")
            return
        if declared is not None and declared > self.max_bytes:
            await _refuse(send, 413, self._too_large())
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                body = await self._read(receive)
        except BodyTooLarge:
            await _refuse(send, 413, self._too_large())
            return
        except TimeoutError:
            await _refuse(send, 408, f"request body not received within {self.timeout_s:g} s")
            return
        except ClientGone:
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _too_large(self) -> str:
        return f"request body larger than {self.max_bytes} bytes"


def _body_headers(scope: Scope) -> tuple[int | None, bool]:
    """(Content-Length, -1 if not a number, None if absent or 0; whether chunked)."""
    declared: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            declared = int(value) if value.isdigit() else -1
        elif name == b"transfer-encoding":
            chunked = True
    return (declared or None), chunked


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body once, then the server's own receive (which reports the disconnect)."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the rest of the body is not read
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
