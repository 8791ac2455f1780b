"""WebRTC calls: ``POST /v1/realtime/calls`` answers an SDP offer with a plausible SDP answer
and a call id; ``…/calls/{id}/{accept,reject,hangup,refer}`` act on it; the call's session is
joined over a sideband socket (``/v1/realtime?call_id=``, see realtime_socket.py).

No media ever flows: a test makes the caller speak with ``call_respond``.
"""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import time
from typing import Any

import orjson
from aiohttp import WSCloseCode, web

from fake_openai.credentials import presented_secret
from fake_openai.encoding import realtime_event
from fake_openai.realtime_audio import AUDIO_BYTES_PER_SECOND, pcm16_silence
from fake_openai.realtime_config import merge_session, new_session
from fake_openai.realtime_plan import plan_response
from fake_openai.realtime_responder import Responder
from fake_openai.realtime_session import Call, Item, Session, message
from fake_openai.sockets import SocketHub
from fake_openai.state import FakeState
from fake_openai.transport import read_payload
from fake_openai.wire import CALLS_PATH, ApiError, JsonObject, missing_parameter, new_id


class Calls:
    """The calls of one fake, and their routes."""

    def __init__(self, state: FakeState, hub: SocketHub, responder: Responder) -> None:
        self._state = state
        self._hub = hub
        self._responder = responder
        self._calls: dict[str, Call] = {}

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(CALLS_PATH, self._create)
        router.add_post(CALLS_PATH + "/{call_id}/{action}", self._act)

    def clear(self) -> None:
        """Forget every call (open sideband sockets keep their sessions)."""
        self._calls.clear()

    def live(self, call_id: str) -> Call:
        """The call ``call_id`` while it lasts, or OpenAI's 404 for it."""
        call = self._calls.get(call_id)
        if call is None or call.ended:
            raise ApiError(
                404,
                f"Call with id '{call_id}' not found.",
                param="call_id",
                code="call_id_not_found",
            )
        return call

    async def _create(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        update: Any = None
        if request.content_type == "application/sdp":
            offer = body.decode(errors="replace")
        elif request.content_type == "multipart/form-data":
            fields = _multipart_fields(request.headers.get("Content-Type", ""), body)
            offer = fields.get("sdp", "")
            if "session" in fields:
                try:
                    update = orjson.loads(fields["session"])
                except orjson.JSONDecodeError:
                    raise ApiError(
                        400, "Invalid 'session': expected a JSON object.", param="session"
                    ) from None
        else:
            raise ApiError(
                400,
                f"Unsupported Content-Type '{request.content_type}': send application/sdp or "
                "multipart/form-data.",
            )
        if not offer.lstrip().startswith("v=0"):
            raise ApiError(400, "Invalid SDP offer: expected 'v=0' first.", param="sdp")
        _, secret = presented_secret(self._state.secrets, request)
        session = new_session(None, secret, update)
        call_id = new_id("rtc_", 16)
        session.call_id = call_id
        self._calls[call_id] = Call(call_id, session, offer)
        return web.Response(
            status=201,
            body=_sdp_answer(),
            content_type="application/sdp",
            headers={"Location": f"{CALLS_PATH}/{call_id}"},
        )

    async def _act(self, request: web.Request) -> web.StreamResponse:
        action = request.match_info["action"]
        if action not in ("accept", "reject", "hangup", "refer"):
            raise ApiError(404, f"Invalid URL ({request.method} {request.path})")
        call = self.live(request.match_info["call_id"])
        if action == "accept":
            payload = await read_payload(request)
            if payload.get("type") != "realtime":
                raise missing_parameter("type")
            call.session.config = merge_session(call.session.config, payload, "")
        elif action in ("reject", "hangup"):
            call.ended = True
            if action == "hangup":
                self._state.hung_up.add(call.id)
            self._end_session(call.session, WSCloseCode.OK, b"call ended")
        return web.Response(status=200)

    def _end_session(self, session: Session, code: int, reason: bytes) -> None:
        if session.active is not None and session.active.task is not None:
            session.active.task.cancel()
        for peer in list(session.peers):
            self._hub.spawn(peer.ws.close(code=code, message=reason))

    def call_respond(self, call_id: str, text: str = "", *, audio_seconds: float = 1.0) -> str:
        """Make a call answer as if its caller had just said ``text``; returns the response id.

        The caller's turn is a user item with one ``input_audio`` part of ``audio_seconds`` of
        silence whose transcript is ``text`` (or, with ``audio_seconds=0``, one ``input_text``
        part). Its sideband sockets get ``input_audio_buffer.speech_started``,
        ``.speech_stopped``, ``.committed`` (audio only), ``conversation.item.added``, ``.done``
        and then a response, exactly as for ``response.create`` with the session's settings.
        """
        call = self._calls.get(call_id)
        if call is None or call.ended:
            raise KeyError(f"no active call {call_id!r}")
        session = call.session
        if session.active is not None:
            raise RuntimeError(f"call {call_id} already has an active response")
        if audio_seconds < 0:
            raise ValueError(f"audio_seconds must be >= 0, got {audio_seconds}")
        nbytes = len(pcm16_silence(audio_seconds))
        if nbytes:
            part: JsonObject = {"type": "input_audio", "transcript": text}
            item = Item({**message("user"), "content": [part]}, {0: nbytes})
        else:
            item = Item({**message("user"), "content": [{"type": "input_text", "text": text}]})
        session.items.append(item)
        previous = session.previous_id(len(session.items) - 1)
        plan, fault = plan_response(self._state, session, {})
        self._responder.start(session, plan, fault, _turn_events(item, nbytes, previous))
        return plan.response_id


def _turn_events(item: Item, nbytes: int, previous: str | None) -> list[JsonObject]:
    """What the sideband sees of a caller's turn, before the response to it."""
    events: list[JsonObject] = []
    if nbytes:
        ms = nbytes * 1000 // AUDIO_BYTES_PER_SECOND
        events += [
            realtime_event("input_audio_buffer.speech_started", audio_start_ms=0, item_id=item.id),
            realtime_event("input_audio_buffer.speech_stopped", audio_end_ms=ms, item_id=item.id),
            realtime_event(
                "input_audio_buffer.committed", item_id=item.id, previous_item_id=previous
            ),
        ]
    events += [
        realtime_event("conversation.item.added", item=item.obj, previous_item_id=previous),
        realtime_event("conversation.item.done", item=item.obj, previous_item_id=previous),
    ]
    return events


def _sdp_answer() -> bytes:
    """A plausible WebRTC answer; nothing ever connects to it."""
    fingerprint = ":".join(new_id("", 32)[i : i + 2] for i in range(0, 64, 2)).upper()
    lines = [
        "v=0",
        f"o=- {int(time.time())} 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "a=msid-semantic:WMS *",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        f"a=ice-ufrag:{new_id('', 4)}",
        f"a=ice-pwd:{new_id('', 12)}",
        f"a=fingerprint:sha-256 {fingerprint}",
        "a=setup:active",
        "a=mid:0",
        "a=sendrecv",
        "a=rtcp-mux",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "c=IN IP4 0.0.0.0",
        "a=mid:1",
        "a=sctp-port:5000",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def _multipart_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The text fields of a ``multipart/form-data`` body, by name."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not parsed.is_multipart():
        raise ApiError(400, "Could not parse the multipart/form-data body.")
    fields: dict[str, str] = {}
    for part in parsed.get_payload():
        if not isinstance(part, email.message.Message):
            continue
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload.decode()
    return fields
