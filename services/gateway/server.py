"""uvicorn for the gateway, with a deadline and a size limit on each request's head.

uvicorn has neither: a connection that sends nothing, or drips its headers a byte at a time
(each byte cancels the keep-alive timer), is held forever. The body's limits are BodyLimit's.
"""

from __future__ import annotations

import asyncio

import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from services.gateway.core.config import Settings
from services.gateway.main import create_app


class BoundedHeadProtocol(HttpToolsProtocol):
    """HttpToolsProtocol, plus: a request's head must be complete within head_timeout_s of the
    connection's start (first request) or of its first byte (later ones), and at most
    max_head_bytes long; else 408 or 431 and the connection is closed."""

    head_timeout_s: float = 5.0
    max_head_bytes: int = 16 * 1024

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._refused = False
        self._unfinished_head_bytes = 0  # bytes of chunks that left the head incomplete
        self._parsed_head_bytes = 0  # request line and headers parsed so far
        self._head_deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm_head_deadline()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self._head_deadline is None or self._refused:
            return
        # httptools buffers a partial header line: bound what a client can make it hold
        self._unfinished_head_bytes += len(data)
        if self._unfinished_head_bytes > self.max_head_bytes:
            self._refuse(431)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head_deadline()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm_head_deadline()
        if not self._refused:
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:  # no request cycle was started for a refused head
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def _count_head(self, size: int) -> None:
        self._parsed_head_bytes += size
        if self._parsed_head_bytes > self.max_head_bytes:
            self._refuse(431)

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is None:
            self._unfinished_head_bytes = self._parsed_head_bytes = 0
            self._head_deadline = self.loop.call_later(self.head_timeout_s, self._refuse, 408)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _refuse(self, status: int) -> None:
        self._disarm_head_deadline()
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        if self.cycle is None or self.cycle.response_complete:  # else mid-answer: only close
            self.transport.write(
                STATUS_LINE[status] + b"content-length: 0\r\nconnection: close\r\n\r\n"
            )
        self.transport.close()


def protocol_for(settings: Settings) -> type[BoundedHeadProtocol]:
    return type(
        "GatewayHttpProtocol",
        (BoundedHeadProtocol,),
        {"head_timeout_s": settings.header_timeout_s, "max_head_bytes": settings.max_header_bytes},
    )


def run(settings: Settings) -> None:
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        http=protocol_for(settings),
        timeout_keep_alive=settings.keep_alive_s,
    )
