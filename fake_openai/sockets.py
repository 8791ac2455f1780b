"""What the two WebSocket APIs (Realtime and the Responses socket) share: open sockets and
background tasks to close at shutdown, sending without minding a peer that has gone, and
pacing one response's events the way its fault says (paced, cut, stalled)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import WSCloseCode, web

from fake_openai.faults import Fault
from fake_openai.state import FakeState
from fake_openai.wire import JsonObject

MAX_MESSAGE_BYTES = 16 * 1024**2


class Dropped(Exception):
    """The socket was cut on purpose (a fault); the response ends silently."""


@dataclass
class Peer:
    """One open WebSocket."""

    ws: web.WebSocketResponse
    request: web.Request

    def cut(self) -> None:
        """Close the TCP connection without a WebSocket close frame (clients see 1006)."""
        transport = self.request.transport
        if transport is not None:
            transport.close()


async def deliver_text(peer: Peer, text: str) -> bool:
    """Send one text message; False if the peer has gone (it just misses the message)."""
    if peer.ws.closed:
        return False
    try:
        await peer.ws.send_str(text)
    except (ConnectionError, RuntimeError):
        return False
    return True


async def deliver(peer: Peer, event: JsonObject) -> bool:
    """Send one event as JSON; False if the peer has gone."""
    return await deliver_text(peer, orjson.dumps(event).decode())


async def broadcast(peers: Iterable[Peer], event: JsonObject) -> None:
    """Send one event to each of ``peers`` (a copy is taken: peers may leave meanwhile)."""
    for peer in list(peers):
        await deliver(peer, event)


class SocketHub:
    """The open sockets and background tasks of one fake, all ended when the app shuts down."""

    def __init__(self) -> None:
        self._sockets: set[web.WebSocketResponse] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def opened(self, ws: web.WebSocketResponse) -> None:
        self._sockets.add(ws)

    def closed(self, ws: web.WebSocketResponse) -> None:
        self._sockets.discard(ws)

    def run(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coro`` in the background until done or shutdown."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run ``coro`` in the background, ignoring how it fails (a close to a gone peer)."""

        async def run() -> None:
            with contextlib.suppress(Exception):
                await coro

        self.run(run())

    async def close_all(self, app: web.Application) -> None:
        """``on_shutdown`` hook: cancel the tasks and close every socket as going away."""
        for task in list(self._tasks):
            task.cancel()
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")


class Pacer:
    """Sends one response's events: paced by ``event_delay_s``, cut or stalled by its fault."""

    def __init__(
        self,
        state: FakeState,
        fault: Fault | None,
        send: Callable[[JsonObject], Awaitable[None]],
        cut: Callable[[], None],
        cancelled: asyncio.Event | None = None,
    ) -> None:
        self._state = state
        self._send = send
        self._cut = cut
        self._cancelled = cancelled
        self._drop_after = fault.drop_after_events if fault is not None else None
        self._stall_after = fault.stall_after_events if fault is not None else None
        self._gated = False
        self.sent = 0

    async def gate(self) -> None:
        """Wait until the next event may go: apply the pace, the cut or the stall.

        Called on its own before an answer word, so that a cancel that arrives meanwhile
        stops the word from being produced at all.
        """
        if self._gated:
            return
        if self._drop_after is not None and self.sent >= self._drop_after:
            self._cut()
            raise Dropped
        if self._stall_after is not None and self.sent >= self._stall_after:
            self._stall_after = None
            if not await self._stall():
                self._cut()
                raise Dropped
        if self.sent and self._state.event_delay_s:
            await self._pause(self._state.event_delay_s)
        self._gated = True

    async def send(self, event: JsonObject) -> None:
        await self.gate()
        self._gated = False
        await self._send(event)
        self.sent += 1

    async def _pause(self, seconds: float) -> None:
        if self._cancelled is None:
            await asyncio.sleep(seconds)
            return
        # A cancel ends the pause at once, so the cancelled response finishes promptly.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._cancelled.wait(), timeout=seconds)

    async def _stall(self) -> bool:
        """Hang until cancelled (True) or until shutdown or ``stall_s`` (False)."""
        waits: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(asyncio.sleep(self._state.stall_s))
        ]
        shutdown = self._state.shutdown
        if shutdown is not None:
            waits.append(asyncio.ensure_future(shutdown.wait()))
        if self._cancelled is not None:
            waits.append(asyncio.ensure_future(self._cancelled.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        return self._cancelled is not None and self._cancelled.is_set()
