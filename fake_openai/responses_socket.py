"""The Responses API's WebSocket mode, ``GET /v1/responses``.

Each text message is a ``response.create`` event (the ``POST /v1/responses`` body plus
``type``); the reply is the SSE stream's events (numbered from 0 per response), one JSON
message each, tagged with the request's ``stream_id`` if it had one. Messages are answered in
order, each response in full before the next is read, so a ``response.steer`` always gets
``response.steer.failed``. ``generate: false`` (Codex's warm-up) completes a response with no
output and no output tokens. The socket keeps its latest ``store: false`` response, so the next
``response.create`` can chain to it by ``previous_response_id``, as on OpenAI. Errors (an
invalid body, ``background: true``, an unknown event) are nested, ``{type: "error", status,
error: {type, code, message, param}}``, and leave the socket open.
"""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import WSMsgType, web

from fake_openai.encoding import socket_error
from fake_openai.faults import Fault
from fake_openai.response_events import response_events
from fake_openai.responses import SocketResponses, plan_response
from fake_openai.sockets import (
    MAX_MESSAGE_BYTES,
    Dropped,
    Pacer,
    Peer,
    SocketHub,
    deliver,
    deliver_text,
)
from fake_openai.state import FakeState
from fake_openai.transport import carried_fault
from fake_openai.wire import RESPONSES_PATH, ApiError, JsonObject, fault_error, new_id

_NOT_THE_BODY = ("type", "stream", "stream_id", "generate")
"""Fields of a ``response.create`` event that are not part of the response's body."""


class ResponsesSocketApi:
    """The Responses socket route.

    A ``response.create`` with ``generate: false`` (Codex's warm-up) reads its input and
    makes no output: a completed response with empty ``output`` and no output tokens.
    """

    def __init__(self, state: FakeState, hub: SocketHub) -> None:
        self._state = state
        self._hub = hub

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get(RESPONSES_PATH, self._socket)

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, timeout=2.0)
        if not ws.can_prepare(request).ok:
            raise ApiError(400, "Expected a WebSocket upgrade request.")
        fault = carried_fault(request)
        carried = [fault] if fault is not None else []
        await ws.prepare(request)
        peer = Peer(ws, request)
        self._hub.opened(ws)
        connection_id = new_id("wsconn_", 12)
        unstored: SocketResponses = {}
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    if not await self._event(peer, connection_id, message.data, carried, unstored):
                        break
                elif message.type == WSMsgType.BINARY:
                    error = ApiError(400, "Binary frames are not supported; send JSON text.")
                    await deliver(peer, socket_error(error, None, None))
                else:
                    break
        finally:
            self._hub.closed(ws)
        return ws

    async def _event(
        self,
        peer: Peer,
        connection_id: str,
        data: str,
        carried: list[Fault],
        unstored: SocketResponses,
    ) -> bool:
        """Handle one client message; False once the socket has been cut."""
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            event = None
        if not isinstance(event, dict):
            error = ApiError(400, "Invalid JSON: expected one event object.", code="invalid_json")
            await deliver(peer, socket_error(error, None, None))
            return True
        self._state.responses_ws_events.append((connection_id, event))
        kind = event.get("type")
        if kind == "response.steer":
            await self._steer(peer, event)
            return True
        if kind != "response.create":
            error = ApiError(
                400,
                f"Invalid value: '{kind}'. Supported values are: 'response.create' and "
                "'response.steer'.",
                code="unknown_event",
            )
            await deliver(peer, socket_error(error, event.get("stream_id"), None))
            return True
        payload = {key: value for key, value in event.items() if key not in _NOT_THE_BODY}
        fault = carried.pop() if carried else None
        if fault is None:
            fault = self._state.pop_fault(RESPONSES_PATH, orjson.dumps(payload))
        generate = event.get("generate") is not False
        return await self._create(peer, event.get("stream_id"), payload, fault, generate, unstored)

    async def _create(
        self,
        peer: Peer,
        stream_id: object,
        payload: JsonObject,
        fault: Fault | None,
        generate: bool,
        unstored: SocketResponses,
    ) -> bool:
        """Answer one ``response.create``; False once the socket has been cut."""
        if fault is not None and fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault is not None and fault.drop_connection:
            peer.cut()
            return False
        if fault is not None and fault.body is not None:
            return await deliver_text(peer, fault.body.decode(errors="replace"))
        try:
            if fault is not None and fault.status is not None:
                raise fault_error(fault.status)
            if payload.get("background"):
                raise ApiError(
                    400,
                    "Background responses are not supported in WebSocket mode.",
                    param="background",
                )
            final, _ = plan_response(
                self._state, payload, fault, generate=generate, socket=unstored
            )
        except ApiError as exc:
            headers = dict(fault.headers) if fault is not None else None
            await deliver(peer, socket_error(exc, stream_id, headers))
            return True
        obfuscate = bool((payload.get("stream_options") or {}).get("include_obfuscation", True))

        async def send(out: JsonObject) -> None:
            if not await deliver(peer, out):
                raise Dropped  # the client went away: stop streaming to nobody

        pacer = Pacer(self._state, fault, send, peer.cut)
        try:
            for out in response_events(final, obfuscate):
                if isinstance(stream_id, str):
                    out["stream_id"] = stream_id
                await pacer.send(out)
        except Dropped:
            return False
        return True

    async def _steer(self, peer: Peer, event: JsonObject) -> None:
        # Responses finish before the next message is read, so there is never one to steer.
        previous = event.get("previous_response_id")
        known = isinstance(previous, str) and previous in self._state.responses
        code = "response_already_completed" if known else "response_not_found"
        message = (
            f"Response '{previous}' has already completed."
            if known
            else f"Response '{previous}' not found."
        )
        await deliver(
            peer,
            {
                "type": "response.steer.failed",
                "sequence_number": 0,
                "error": {"type": "invalid_request_error", "code": code, "message": message},
                "steer": {"previous_response_id": previous, "input": event.get("input")},
            },
        )
