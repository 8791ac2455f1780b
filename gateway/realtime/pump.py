"""Frames both ways between a client socket and the upstream's, through a session's decisions.

Each direction is one loop, so nothing is reordered; a frame passes as the
very text that arrived unless the session says otherwise
(`gateway.realtime.decision.Decision`). A client's binary frame gets exactly
what a text frame gets: if it holds a UTF-8 JSON event it is handled (and
forwarded) as that text, else it is refused with an ``error`` event; nothing
from the client reaches the upstream unparsed. The pump returns why the session
ended, and says it to the client in the Realtime dialect before closing.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

import aiohttp
import orjson

from gateway.api.asgi import Receive, Send
from gateway.config.tenant import RealtimePolicy
from gateway.errors import BadRequest, GatewayError
from gateway.errors.wire import realtime_event
from gateway.realtime.decision import Decision

# Close codes: 1000 normal, 1008 policy (limits, budget), 1011 upstream failure.
_CLOSE_CODES = {
    "idle_timeout": 1008,
    "max_duration": 1008,
    "budget_exceeded": 1008,
    "output_cap_failed": 1011,
    "session_policy_failed": 1011,
    "upstream_closed": 1000,
    "upstream_error": 1011,
    "gateway_shutdown": 1012,  # service restart: the SDK may reconnect
}
_ENDED_MESSAGES = {
    "gateway_shutdown": (
        "gateway_shutdown",
        "This gateway instance is shutting down; reconnect to continue.",
    ),
    "idle_timeout": ("session_idle_timeout", "The session was idle for longer than {idle:g} s."),
    "max_duration": ("session_expired", "The session reached its maximum of {max:g} s."),
}


class SocketSession(Protocol):
    """What the relay needs from a session: decisions on frames, and a final settlement."""

    spent_nanos: int
    session_id: str | None

    def opening_events(self) -> list[str]: ...
    async def on_client(self, text: str) -> Decision: ...
    async def server_event(self, text: str) -> Decision: ...
    def refusal(self, err: GatewayError) -> str: ...
    def close(self) -> None: ...


async def pump(
    session: SocketSession,
    upstream: aiohttp.ClientWebSocketResponse,
    receive: Receive,
    send: Send,
    rules: RealtimePolicy,
    stopping: asyncio.Event,
) -> str:
    """Pump both ways until one side ends or the gateway stops; returns why it ended."""
    for event in session.opening_events():
        await upstream.send_str(event)
    client = asyncio.create_task(_from_client(session, upstream, receive, send, rules))
    server = asyncio.create_task(from_upstream(session, upstream, send))
    stop = asyncio.create_task(stopping.wait())
    done, pending = await asyncio.wait((client, server, stop), return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    pump = client if client in done else server if server in done else None
    if pump is None:
        reason = "gateway_shutdown"
    else:
        reason = pump.result() if pump.exception() is None else "upstream_error"
    if reason in _ENDED_MESSAGES:
        code, text = _ENDED_MESSAGES[reason]
        err = BadRequest(text.format(idle=rules.idle_timeout_s, max=rules.max_session_s), code=code)
        with contextlib.suppress(Exception):  # the client may be gone already
            await _to_client(send, [realtime_event(err, None)])
    if reason != "client_closed":
        close_code = _CLOSE_CODES.get(reason, 1000)
        if reason == "upstream_closed":  # 1001: the API's 60-minute limit; the SDK reconnects
            close_code = upstream.close_code if upstream.close_code in (1000, 1001) else 1011
        with contextlib.suppress(Exception):
            await send({"type": "websocket.close", "code": close_code, "reason": reason})
    return reason


async def _from_client(
    session: SocketSession,
    upstream: aiohttp.ClientWebSocketResponse,
    receive: Receive,
    send: Send,
    rules: RealtimePolicy,
) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + rules.max_session_s
    while True:
        left = deadline - loop.time()
        try:
            async with asyncio.timeout(min(rules.idle_timeout_s, left)):
                message = await receive()
        except TimeoutError:
            return "max_duration" if loop.time() >= deadline - 0.001 else "idle_timeout"
        kind = message["type"]
        if kind == "websocket.disconnect":
            return "client_closed"
        text = message.get("text")
        if text is None:
            text = binary_event(message.get("bytes") or b"")
        if text is None:
            try:
                await _to_client(send, [session.refusal(_binary_refused())])
            except _ClientGone:
                return "client_closed"
            continue
        decision = await session.on_client(text)
        try:
            await _to_client(send, decision.to_client)
        except _ClientGone:
            return "client_closed"
        if decision.forward is not None:
            await upstream.send_str(decision.forward)
        if decision.close:
            return decision.close


async def from_upstream(
    session: SocketSession, upstream: aiohttp.ClientWebSocketResponse, send: Send
) -> str:
    try:
        async for message in upstream:
            if message.type == aiohttp.WSMsgType.TEXT:
                text: str = message.data
            elif message.type == aiohttp.WSMsgType.BINARY:
                # An event in a binary frame is still an event: metered like the text one.
                as_text = binary_event(message.data)
                if as_text is None:
                    try:
                        await send({"type": "websocket.send", "bytes": message.data})
                    except Exception as exc:
                        raise _ClientGone from exc
                    continue
                text = as_text
            else:
                break
            decision: Decision = await session.server_event(text)
            for event in decision.to_upstream:
                await upstream.send_str(event)
            out = [decision.forward] if decision.forward is not None else []
            await _to_client(send, out + decision.to_client)
            if decision.close:
                return decision.close
    except _ClientGone:
        return "client_closed"
    return "upstream_closed"


def binary_event(raw: bytes) -> str | None:
    """The text of a binary frame holding a UTF-8 JSON event, else None (refused)."""
    try:
        event = orjson.loads(raw)  # also refuses bytes that are not UTF-8
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return None
    return raw.decode()


def _binary_refused() -> GatewayError:
    return BadRequest(
        "Binary frames must hold a UTF-8 JSON event; send events as text frames.",
        code="invalid_json",
    )


class _ClientGone(Exception):
    """Sending to the client failed: it has left."""


async def _to_client(send: Send, events: list[str]) -> None:
    try:
        for event in events:
            await send({"type": "websocket.send", "text": event})
    except Exception as exc:
        raise _ClientGone from exc


async def nobody(message: dict[str, Any]) -> None:
    """A WebRTC call's sideband has no client to relay to: the browser has the media."""
