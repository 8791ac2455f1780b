"""Serving with a drain: what SIGTERM does, so that a rolling deploy loses nothing."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from types import FrameType

import uvicorn
from uvicorn.lifespan.on import LifespanOn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.errors import BadRequest
from gateway.errors.wire import json_body
from gateway.services import Services


def _closing_response(status: bytes, message: str, code: str) -> bytes:
    body = json_body(BadRequest(message, code=code))
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
    )  # fmt: skip


_TIMEOUT_RESPONSE = _closing_response(
    b"408 Request Timeout", "The request's headers did not arrive in time.", "request_timeout"
)
_MALFORMED_RESPONSE = _closing_response(
    b"400 Bad Request", "The request is not valid HTTP/1.1.", "invalid_http_request"
)
_TOO_LARGE_RESPONSE = _closing_response(
    b"431 Request Header Fields Too Large",
    "The request line and headers are too large.",
    "request_headers_too_large",
)


def http_protocol(
    header_timeout_s: float, max_header_bytes: int = 64 * 1024
) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol, with a deadline and a size limit on each request's headers.

    uvicorn has neither: a client sending its headers a byte at a time (slowloris)
    holds a connection for ever, and one sending a megabyte of headers has it all
    parsed and kept. Here a connection must finish a request's headers within
    ``header_timeout_s`` of connecting, or of that request's first byte (else 408),
    in at most ``max_header_bytes`` of request line and headers (else 431); either
    way the connection is closed. Idle keep-alive connections stay under uvicorn's
    own keep-alive timeout.
    """

    limits = {"header_timeout_s": header_timeout_s, "max_header_bytes": max_header_bytes}
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), limits)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """See `http_protocol`; its limits are class attributes set there."""

    header_timeout_s = 30.0
    max_header_bytes = 64 * 1024
    _deadline: asyncio.TimerHandle | None = None
    _reading_headers = True  # until a request's headers are complete
    _header_bytes = 0
    _too_large = False

    def data_received(self, data: bytes) -> None:
        # Counted per read, not per header: while headers are incomplete, every byte
        # so far is header. The parser sees at most one read past the limit.
        if self._too_large:  # after a 431, what still arrives is dropped
            return
        if self._reading_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if self._reading_headers and self._header_bytes > self.max_header_bytes:
            self._refuse_too_large()

    def _refuse_too_large(self) -> None:
        self._too_large = True
        self._disarm()
        if not self.transport.is_closing():
            # Lingering close: the client may still be sending; closing now would reset
            # the connection and lose the answer. Answer, half-close, discard, then close.
            self.transport.write(_TOO_LARGE_RESPONSE)
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self.loop.call_later(2.0, self.transport.close)

    def send_400_response(self, msg: str) -> None:
        """A request the HTTP parser rejects gets OpenAI's error shape like any other."""
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(_MALFORMED_RESPONSE)
            self.transport.close()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_headers, self._header_bytes = True, 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        self._reading_headers, self._header_bytes = False, 0
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.header_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.write(_TIMEOUT_RESPONSE)
            self.transport.close()


log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """uvicorn, with a drain before it stops listening.

    SIGTERM: readiness turns false at once while new requests are still served,
    so load balancers move traffic away first; after ``drain_s`` Realtime sockets
    are told to reconnect elsewhere, then uvicorn's own graceful shutdown closes
    the listener and lets requests and streams in flight finish (up to
    ``server.shutdown_timeout_s``). A second signal stops at once.

    A start-up failure that ``explain`` can put in one line (another gateway holds
    the ledger, a port is taken) is kept in ``startup_failure`` instead of being
    logged as a traceback; anything else keeps its traceback.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        services: Services,
        drain_s: float,
        explain: Callable[[BaseException], str | None] = lambda _: None,
    ) -> None:
        super().__init__(config)
        self._services = services
        self._drain_s = drain_s
        self._draining = False
        self.startup_failure: str | None = None
        config.load()
        server = self

        class ExplainedLifespan(LifespanOn):
            async def send(self, message: dict[str, object]) -> None:  # type: ignore[override]
                # Litestar reports a failed start from inside its ``except`` block.
                failure = sys.exc_info()[1]
                told = explain(failure) if failure is not None else None
                if message["type"] == "lifespan.startup.failed" and told is not None:
                    server.startup_failure = told
                    message = {"type": message["type"], "message": ""}
                await super().send(message)  # type: ignore[arg-type]

        config.lifespan_class = ExplainedLifespan

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
