"""Serving with a drain: what SIGTERM does, so that a rolling deploy loses nothing."""

from __future__ import annotations

import asyncio
import logging
from types import FrameType

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.errors import error_body
from gateway.services import Services

_TIMEOUT_BODY = error_body(
    "The request's headers did not arrive in time.", "invalid_request_error", "request_timeout"
)
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"content-length: "
    + str(len(_TIMEOUT_BODY)).encode()
    + b"\r\nconnection: close\r\n\r\n"
    + _TIMEOUT_BODY
)


def http_protocol(header_timeout_s: float) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol, with a deadline on each request's headers.

    uvicorn has none: a client sending its headers a byte at a time (slowloris)
    holds a connection for ever. Here a connection must finish a request's
    headers within ``header_timeout_s`` of connecting, or of that request's
    first byte; otherwise it gets 408 and is closed. Idle keep-alive
    connections stay under uvicorn's own keep-alive timeout.
    """

    class HeaderDeadlineProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(header_timeout_s, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.write(_TIMEOUT_RESPONSE)
                self.transport.close()

    return HeaderDeadlineProtocol


log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """uvicorn, with a drain before it stops listening.

    SIGTERM: readiness turns false at once while new requests are still served,
    so load balancers move traffic away first; after ``drain_s`` Realtime sockets
    are told to reconnect elsewhere, then uvicorn's own graceful shutdown closes
    the listener and lets requests and streams in flight finish (up to
    ``server.shutdown_timeout_s``). A second signal stops at once.
    """

    def __init__(self, config: uvicorn.Config, services: Services, drain_s: float) -> None:
        super().__init__(config)
        self._services = services
        self._drain_s = drain_s
        self._draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining or self.should_exit:
            super().handle_exit(sig, frame)
            return
        self._draining = True
        log.warning("signal %d: draining for %.1f s, then shutting down", sig, self._drain_s)
        loop = asyncio.get_event_loop()
        loop.call_soon_threadsafe(self._drain, sig, frame)

    def _drain(self, sig: int, frame: FrameType | None) -> None:
        self._services.draining = True
        loop = asyncio.get_running_loop()

        def stop() -> None:
            self._services.stopping.set()  # sockets end with a clear event first
            loop.call_later(0.5, super(DrainingServer, self).handle_exit, sig, frame)

        loop.call_later(self._drain_s, stop)
