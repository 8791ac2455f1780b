"""Prometheus's ``/metrics`` on a port of its own, never on the public one.

The exposition names every tenant with its spend and budget left, so it must not
answer whoever reaches the API. A scrape is one small GET every few seconds: a few
lines of asyncio on the gateway's own loop serve it (the budget gauges read the
quota, which lives on that loop), with no framework and nothing on the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from gateway.config.model import ServerConfig
from gateway.settings import Settings

log = logging.getLogger(__name__)

_READ_TIMEOUT_S = 5.0
_MAX_HEAD_BYTES = 16 * 1024
_CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


class MetricsPortUnavailable(Exception):
    """The metrics port cannot be listened on (taken, or not allowed)."""


def metrics_port(settings: Settings, server: ServerConfig) -> int:
    """``GATEWAY_METRICS_PORT`` when set, else ``server.metrics_port``; 0 means none."""
    return settings.metrics_port if settings.metrics_port is not None else server.metrics_port


def serve_metrics(
    render: Callable[[], bytes], host: str, port: int
) -> Callable[[object], AbstractAsyncContextManager[None]]:
    """A Litestar lifespan hook that listens on ``host:port`` while the app runs (0: never)."""

    @asynccontextmanager
    async def lifespan(_: object) -> AsyncIterator[None]:
        if not port:
            yield
            return
        try:
            server = await asyncio.start_server(
                lambda r, w: _answer(r, w, render), host, port, limit=_MAX_HEAD_BYTES
            )
        except OSError as exc:
            raise MetricsPortUnavailable(
                f"cannot listen for /metrics on {host}:{port}: {exc.strerror or exc} "
                "(server.metrics_port or GATEWAY_METRICS_PORT; 0 turns it off)"
            ) from exc
        log.info("metrics on http://%s:%d/metrics", host, port)
        try:
            yield
        finally:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()

    return lifespan


async def _answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, render: Callable[[], bytes]
) -> None:
    """One request per connection: ``GET /metrics`` gets the exposition, anything else 404."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT_S)
        method, _, rest = head.partition(b" ")
        path = rest.partition(b" ")[0].partition(b"?")[0]
        if method in (b"GET", b"HEAD") and path == b"/metrics":
            body = render()
            status, kind = b"200 OK", _CONTENT_TYPE
        else:
            body, status, kind = b"not found\n", b"404 Not Found", b"text/plain"
        writer.write(
            b"HTTP/1.1 " + status + b"\r\ncontent-type: " + kind + b"\r\ncontent-length: "
            + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n"
            + (body if method != b"HEAD" else b"")
        )  # fmt: skip
        await writer.drain()
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
        pass  # a client that sends no request, or too much, or goes away, just gets closed
    finally:
        writer.close()
