"""Serving with a drain: what SIGTERM does, so that a rolling deploy loses nothing."""

from __future__ import annotations

import asyncio
import logging
from types import FrameType

import uvicorn

from gateway.services import Services

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
