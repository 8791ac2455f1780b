"""``GET /v1/realtime``: a Realtime session over a WebSocket. ``?model=M`` opens a new session;
``?call_id=rtc_…`` joins the session of a call (the sideband). Refusals happen before the
upgrade, as HTTP errors with OpenAI's error body."""

from __future__ import annotations

from aiohttp import WSMsgType, web

from fake_openai.calls import Calls
from fake_openai.credentials import presented_secret
from fake_openai.encoding import realtime_error, realtime_event
from fake_openai.realtime_config import new_session
from fake_openai.realtime_events import ClientEvents
from fake_openai.realtime_session import Session
from fake_openai.sockets import MAX_MESSAGE_BYTES, Peer, SocketHub, deliver
from fake_openai.state import FakeState
from fake_openai.transport import carried_fault
from fake_openai.wire import REALTIME_PATH, ApiError, missing_parameter


class RealtimeApi:
    """The Realtime socket route."""

    def __init__(
        self, state: FakeState, hub: SocketHub, calls: Calls, events: ClientEvents
    ) -> None:
        self._state = state
        self._hub = hub
        self._calls = calls
        self._events = events

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get(REALTIME_PATH, self._socket)

    def _session(self, request: web.Request) -> Session:
        """The session the upgrade asks for, or the error that refuses it."""
        call_id = request.query.get("call_id")
        model = request.query.get("model")
        is_secret, secret = presented_secret(self._state.secrets, request)
        if call_id is not None:
            if is_secret:
                # A sideband needs the standard key; an ephemeral one finds no call.
                raise ApiError(
                    404,
                    f"Call with id '{call_id}' not found.",
                    param="call_id",
                    code="call_id_not_found",
                )
            return self._calls.live(call_id).session
        if not model and secret is not None:
            model = str(secret.session.get("model") or "") or None
        if not model:
            raise missing_parameter("model")
        return new_session(model, secret, None)

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        session = self._session(request)
        ws = web.WebSocketResponse(
            protocols=("realtime",), max_msg_size=MAX_MESSAGE_BYTES, timeout=2.0
        )
        if not ws.can_prepare(request).ok:
            raise ApiError(400, "Expected a WebSocket upgrade request.")
        fault = carried_fault(request)
        await ws.prepare(request)
        peer = Peer(ws, request)
        session.peers.append(peer)
        self._hub.opened(ws)
        if fault is not None:
            session.fault = fault
        try:
            await deliver(peer, realtime_event("session.created", session=session.config))
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._events.handle(session, peer, message.data)
                elif message.type == WSMsgType.BINARY:
                    error = ApiError(
                        400,
                        "Binary frames are not supported; send JSON text.",
                        code="invalid_json",
                    )
                    await deliver(peer, realtime_error(error, None))
                else:
                    break
        finally:
            self._hub.closed(ws)
            if peer in session.peers:
                session.peers.remove(peer)
            active = session.active
            if session.call_id is None and active is not None and active.task is not None:
                active.task.cancel()
        return ws
