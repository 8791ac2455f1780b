"""The fake's WebSocket and Realtime endpoints: Realtime (GA), WebRTC calls, client secrets,
and the Responses WebSocket mode. See /work/shared/OPENAI-WIRE.md sections 5 and 7.

Endpoints
---------
- ``GET /v1/realtime?model=M`` (WebSocket): a Realtime session. ``GET /v1/realtime?call_id=rtc_…``
  joins the session of a call made with ``POST /v1/realtime/calls`` (the sideband).
- ``POST /v1/realtime/calls`` (``application/sdp`` or ``multipart/form-data`` with parts ``sdp``
  and optional ``session``): 201, a fake SDP answer, ``Location: /v1/realtime/calls/rtc_…``.
  ``POST /v1/realtime/calls/{id}/{hangup,accept,reject,refer}``: 200, empty body.
- ``POST /v1/realtime/client_secrets``: mints an ``ek_…`` secret; it authenticates
  ``/v1/realtime?model=`` and ``POST /v1/realtime/calls`` (not the sideband, which answers 404
  ``call_id_not_found`` to an ``ek_`` key, nor any other endpoint) until it expires.
- ``GET /v1/responses`` (WebSocket): each text message is a ``response.create`` event (the
  ``POST /v1/responses`` body plus ``type``); the reply is the SSE stream's events (numbered
  from 0 per response), one JSON message each, tagged with the request's ``stream_id`` if it
  had one. Messages are answered in order, each response in full before the next is read, so
  a ``response.steer`` always gets ``response.steer.failed``. Errors (an invalid body,
  ``background: true``, an unknown event) are nested, ``{type: "error", status, error: {type,
  code, message, param}}``, and leave the socket open.

Credentials: ``Authorization: Bearer`` as on every route; on ``/v1/realtime`` a browser's
``Sec-WebSocket-Protocol: realtime, openai-insecure-api-key.<key>`` works too (``realtime`` is
echoed). Refusals happen before the upgrade, as HTTP errors with OpenAI's error body.

Realtime usage (deterministic, so tests can compute prices by hand)
-------------------------------------------------------------------
A response's *prompt* is a list of parts: the effective instructions (response override, else
the session's; the default is empty) if non-empty, then every content part of every item of its
input, in conversation order. The input is ``response.input`` when given (``item_reference``
items resolve to conversation items), else the whole conversation so far. Tokens per part:

- text (``input_text``/``output_text`` text, instructions, ``function_call`` arguments,
  ``function_call_output`` output): ``ceil(characters / 4)``;
- audio (``input_audio``, and ``output_audio`` of earlier answers): ``ceil(pcm_bytes / 4800)``,
  i.e. 10 tokens per second of PCM16 mono 24 kHz (48 000 bytes a second). Transcripts are free;
- image (``input_image``): ``IMAGE_TOKENS`` (85) each.

``input_token_details.{text,audio,image}_tokens`` sum those parts per kind and ``input_tokens``
is their total. Cached: the longest run of leading parts that equals the leading parts of the
previous response's prompt in the same session (same item and content index with the same
token count, or the same instructions), summed per kind into ``cached_tokens_details`` and
``cached_tokens`` (a subset of ``input_tokens``). On a plain second turn that is all of the
first turn's input; the first response of a session has none.

Output: the answer is the deltas of ``split_deltas("Fake answer: " + words of the last user
message)`` (the text of its ``input_text`` parts and the transcripts of its audio parts, the
first 24 words; see ``server.answer_words``), or of ``Fault.output_text`` when scripted. Each
delta (a word with the whitespace before it) costs one output text token; with the ``audio``
modality it also brings ``AUDIO_BYTES_PER_WORD`` (4800 bytes = 0.1 s) of PCM16 silence costing
2 output audio tokens (20 a second), so 3 tokens a word. ``output_tokens`` = text + audio,
``total_tokens`` = input + output. The cap is ``response.max_output_tokens``, else the
session's (``"inf"`` = none): the answer is the longest run of words whose tokens fit, and if
any word is left out the response ends ``incomplete`` with ``status_details: {type:
"incomplete", reason: "max_output_tokens"}``. ``response.cancel`` ends it ``cancelled``
(reason ``client_cancelled``), billed for the words sent so far. A later turn sees an answer
as an assistant item: ``output_text`` costs ``ceil(chars / 4)``, ``output_audio`` 1 input audio
token per word (0.1 s).

Realtime event sequences
------------------------
Connect: ``session.created``. ``conversation.item.create``: ``conversation.item.added``,
``conversation.item.done``. ``input_audio_buffer.append``: nothing; ``.commit`` (at least
100 ms): ``input_audio_buffer.committed``, ``conversation.item.added``, ``.done`` for a user item
with one ``input_audio`` part (transcript null); ``.clear``: ``input_audio_buffer.cleared``.
``response.create``:

    response.created, rate_limits.updated, response.output_item.added,
    [conversation.item.added], response.content_part.added,
    text:  response.output_text.delta × words, response.output_text.done,
    audio: (response.output_audio_transcript.delta, response.output_audio.delta) × words,
           response.output_audio.done, response.output_audio_transcript.done,
    response.content_part.done, response.output_item.done, [conversation.item.done],
    response.done

(the ``conversation.item.*`` pair only when the answer joins the conversation, i.e. not for
``conversation: "none"``). Events are paced by ``event_delay_s``. Item audio is never echoed.
Invalid events get ``{type: "error", event_id, error: {type, code, message, param,
event_id: <the client's event_id>}}`` (``code`` e.g. ``unknown_event``, ``invalid_json``,
``conversation_already_has_active_response``, ``response_cancel_not_active``,
``input_audio_buffer_commit_empty``) and the session goes on. ``session.update`` needs
``session.type: "realtime"`` and cannot change the model. The fake has no voice activity
detection (``turn_detection`` defaults to null and is only stored); ``call_respond`` plays a
caller's turn on a call instead (see ``FakeRealtime.call_respond``).

Faults on ``/v1/realtime`` and on the Responses socket (path ``/v1/responses``)
--------------------------------------------------------------------------------
A queued fault is taken by the next matching request, which is either the upgrade or, once a
socket is open, a ``response.create`` (or a ``call_respond``). At the upgrade ``delay_s``
delays the handshake and ``status``/``body``/``drop_connection`` refuse it; its other fields
carry over to the first response on that socket. For a response: ``delay_s`` waits before
its first event, ``drop_connection`` cuts the socket at once, ``status`` sends an ``error``
event instead (with ``status`` on the Responses socket), ``body`` sends those bytes as one
text message instead, ``drop_after_events=N`` sends N of the response's events (counted from
``response.created``) and then closes the TCP connection without a close frame (clients see
1006), ``stall_after_events=N`` stops after N events (a ``response.cancel`` ends the stall and
the response, as cancelled; otherwise the socket is cut when the server stops or after
``FakeOpenAI.stall_s``), and ``output_text``/``incomplete`` script the answer. ``refusal`` and
``function_call`` script Responses answers only. A fault's ``model`` matches the upgrade's
``?model=``, the session's model (Realtime) or the ``response.create`` model (Responses).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import email.message
import email.parser
import email.policy
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from gateway.fake_upstream.faults import Fault
from gateway.fake_upstream.server import (
    _FAULT_KEY,
    RATE_LIMIT_REQUESTS,
    RATE_LIMIT_TOKENS,
    ApiError,
    JsonObject,
    _fault_error,
    _new_id,
    answer_words,
    split_deltas,
)

if TYPE_CHECKING:
    from gateway.fake_upstream.server import FakeOpenAI

SAMPLE_RATE = 24_000
AUDIO_BYTES_PER_SECOND = 2 * SAMPLE_RATE
"""PCM16 mono at 24 kHz, the only audio format the fake produces (whatever is configured)."""
INPUT_AUDIO_BYTES_PER_TOKEN = AUDIO_BYTES_PER_SECOND // 10
"""10 input audio tokens a second: 4800 bytes each."""
OUTPUT_AUDIO_BYTES_PER_TOKEN = AUDIO_BYTES_PER_SECOND // 20
"""20 output audio tokens a second: 2400 bytes each."""
AUDIO_BYTES_PER_WORD = AUDIO_BYTES_PER_SECOND // 10
"""0.1 s of generated silence per answer word: 2 output audio tokens."""
IMAGE_TOKENS = 85
"""Input tokens of one ``input_image`` part."""
MIN_COMMIT_BYTES = AUDIO_BYTES_PER_SECOND // 10
"""``input_audio_buffer.commit`` needs at least 100 ms of audio, like the real API."""
SESSION_TTL_S = 3600
DEFAULT_MODEL = "gpt-realtime"
MAX_MESSAGE_BYTES = 16 * 1024**2
CLIENT_SECRET_TTL_S = (10, 600, 7200)
"""Minimum, default and maximum ``expires_after.seconds`` of a client secret."""
SUBPROTOCOL_KEY_PREFIX = "openai-insecure-api-key."

REALTIME_PATH = "/v1/realtime"
CALLS_PATH = "/v1/realtime/calls"
RESPONSES_PATH = "/v1/responses"

_IMMUTABLE_SESSION_FIELDS = frozenset({"type", "object", "id", "expires_at", "model"})
_PART_TYPES: dict[str, frozenset[str]] = {
    "user": frozenset({"input_text", "input_audio", "input_image"}),
    "system": frozenset({"input_text"}),
    "assistant": frozenset({"output_text", "output_audio"}),
}

PartKind = Literal["text", "audio", "image"]
Modality = Literal["text", "audio"]


def text_tokens(text: str) -> int:
    """Tokens of one text part: a quarter of its characters, rounded up (0 for "")."""
    return math.ceil(len(text) / 4)


def input_audio_tokens(nbytes: int) -> int:
    """Input tokens of ``nbytes`` of PCM16 mono 24 kHz audio: 10 a second, rounded up."""
    return math.ceil(nbytes / INPUT_AUDIO_BYTES_PER_TOKEN)


def pcm16_silence(seconds: float) -> bytes:
    """``seconds`` of PCM16 mono 24 kHz silence, e.g. to append as input audio in tests."""
    return bytes(2 * round(seconds * SAMPLE_RATE))


def _event_id() -> str:
    return _new_id("event_", 12)


def _item_id() -> str:
    return _new_id("item_", 12)


def _object(value: Any) -> JsonObject:
    """``value`` if it is a JSON object, else an empty one (for optional nested settings)."""
    return value if isinstance(value, dict) else {}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _decode_audio(value: Any, param: str) -> bytes:
    if not isinstance(value, str):
        raise ApiError(400, f"Invalid type for '{param}': expected a base64 string.", param=param)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(
            400,
            f"Invalid '{param}': expected base64-encoded audio bytes.",
            param=param,
            code="invalid_value",
        ) from None


def _default_session(session_id: str, model: str) -> JsonObject:
    """A GA session object as ``session.created`` reports it."""
    pcm = {"type": "audio/pcm", "rate": SAMPLE_RATE}
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": int(time.time()) + SESSION_TTL_S,
        "audio": {
            "input": {
                "format": dict(pcm),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": None,
            },
            "output": {"format": dict(pcm), "voice": "alloy", "speed": 1.0},
        },
        "include": None,
    }


def _check_max_output_tokens(value: Any, param: str) -> int | Literal["inf"]:
    if value == "inf":
        return "inf"
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4096:
        raise ApiError(
            400,
            f"Invalid '{param}': expected an integer between 1 and 4096 or 'inf', "
            f"but got {value!r} instead.",
            param=param,
            code="invalid_value",
        )
    return value


def _check_modalities(value: Any, param: str) -> Modality:
    if value == ["text"]:
        return "text"
    if value == ["audio"]:
        return "audio"
    raise ApiError(
        400,
        f"Invalid '{param}': expected ['text'] or ['audio'] (it is not possible to request "
        f"both), but got {value!r} instead.",
        param=param,
        code="invalid_value",
    )


def _merge_session(config: JsonObject, update: Any, param: str = "session") -> JsonObject:
    """Apply a client's session fields over ``config`` (``audio.input``/``output`` merged).

    ``model`` and the server-set fields are kept; ``param`` prefixes the names in errors.
    """

    def at(name: str) -> str:
        return f"{param}.{name}" if param else name

    if not isinstance(update, dict):
        raise ApiError(400, f"Invalid type for '{param}': expected an object.", param=param)
    if update.get("type", config["type"]) != "realtime":
        raise ApiError(
            400,
            f"Invalid value for '{at('type')}': the fake supports only 'realtime' sessions.",
            param=at("type"),
            code="invalid_value",
        )
    if "max_output_tokens" in update:
        _check_max_output_tokens(update["max_output_tokens"], at("max_output_tokens"))
    if "output_modalities" in update:
        _check_modalities(update["output_modalities"], at("output_modalities"))
    merged = dict(config)
    for key, value in update.items():
        if key in _IMMUTABLE_SESSION_FIELDS:
            continue
        if key == "audio" and isinstance(value, dict):
            audio = dict(merged.get("audio") or {})
            for side in ("input", "output"):
                if isinstance(value.get(side), dict):
                    audio[side] = {**(audio.get(side) or {}), **value[side]}
            merged["audio"] = audio
        else:
            merged[key] = value
    return merged


def _sdp_answer() -> bytes:
    """A plausible WebRTC answer; nothing ever connects to it."""
    fingerprint = ":".join(_new_id("", 32)[i : i + 2] for i in range(0, 64, 2)).upper()
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
        f"a=ice-ufrag:{_new_id('', 4)}",
        f"a=ice-pwd:{_new_id('', 12)}",
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
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ApiError(400, "Could not parse the multipart/form-data body.")
    fields: dict[str, str] = {}
    for part in message.get_payload():
        if not isinstance(part, email.message.Message):
            continue
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload.decode()
    return fields


def _carried(request: web.Request) -> Fault | None:
    """The fault an upgrade took, minus what the upgrade itself already used."""
    fault: Fault | None = request.get(_FAULT_KEY)
    if fault is None:
        return None
    return dataclasses.replace(fault, delay_s=0.0, headers={})


class _Dropped(Exception):
    """The socket was cut on purpose (a fault); the response ends silently."""


@dataclass(frozen=True)
class _Part:
    """One part of a prompt, for token counts and the cached-prefix comparison."""

    key: str
    kind: PartKind
    tokens: int


@dataclass
class _Item:
    """A conversation item as echoed (no audio), plus the audio sizes it stands for."""

    obj: JsonObject
    audio_bytes: dict[int, int] = field(default_factory=dict)
    """PCM16 byte count of each audio content part, by content index."""

    @property
    def id(self) -> str:
        return str(self.obj["id"])

    def parts(self) -> list[_Part]:
        obj, parts = self.obj, []
        kind = obj.get("type")
        if kind == "function_call":
            parts.append(_Part(f"{self.id}/0", "text", text_tokens(obj.get("arguments") or "")))
        elif kind == "function_call_output":
            parts.append(_Part(f"{self.id}/0", "text", text_tokens(obj.get("output") or "")))
        for index, part in enumerate(obj.get("content") or []):
            key = f"{self.id}/{index}"
            ptype = part.get("type")
            if ptype in ("input_audio", "output_audio"):
                tokens = input_audio_tokens(self.audio_bytes.get(index, 0))
                parts.append(_Part(key, "audio", tokens))
            elif ptype == "input_image":
                parts.append(_Part(key, "image", IMAGE_TOKENS))
            else:
                parts.append(_Part(key, "text", text_tokens(part.get("text") or "")))
        return parts

    def spoken_text(self) -> str:
        """What a user message says: its texts and audio transcripts."""
        texts = []
        for part in self.obj.get("content") or []:
            value = part.get("text") if part.get("type") == "input_text" else part.get("transcript")
            if isinstance(value, str) and value:
                texts.append(value)
        return " ".join(texts)


@dataclass
class _Peer:
    """One open WebSocket."""

    ws: web.WebSocketResponse
    request: web.Request

    def cut(self) -> None:
        """Close the TCP connection without a WebSocket close frame (clients see 1006)."""
        transport = self.request.transport
        if transport is not None:
            transport.close()


@dataclass
class _Active:
    """The response a session is producing."""

    id: str
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


@dataclass
class _Session:
    id: str
    config: JsonObject
    conversation_id: str = field(default_factory=lambda: _new_id("conv_", 12))
    call_id: str | None = None
    peers: list[_Peer] = field(default_factory=list)
    items: list[_Item] = field(default_factory=list)
    audio_buffer: bytearray = field(default_factory=bytearray)
    fault: Fault | None = None
    """Taken at the upgrade; applies to the session's next response."""
    active: _Active | None = None
    last_prompt: list[_Part] = field(default_factory=list)
    last_response_id: str | None = None

    @property
    def model(self) -> str:
        return str(self.config.get("model") or DEFAULT_MODEL)

    def find(self, item_id: Any) -> int | None:
        for index, item in enumerate(self.items):
            if item.id == item_id:
                return index
        return None

    def previous_id(self, index: int) -> str | None:
        return self.items[index - 1].id if index > 0 else None


@dataclass
class _Call:
    id: str
    session: _Session
    offer: str
    ended: bool = False


@dataclass(frozen=True)
class _Secret:
    expires_at: int
    session: JsonObject


@dataclass
class _Plan:
    """Everything a response needs, fixed when it is requested."""

    response_id: str
    item_id: str
    modality: Modality
    cap: int | Literal["inf"]
    prompt: list[_Part]
    cached: list[_Part]
    deltas: list[str]
    in_conversation: bool
    metadata: Any
    voice: Any
    audio_format: Any
    forced_incomplete: bool


class _Pacer:
    """Sends one response's events: paced by ``event_delay_s``, cut or stalled by its fault."""

    def __init__(
        self,
        fake: FakeOpenAI,
        fault: Fault | None,
        deliver: Callable[[JsonObject], Awaitable[None]],
        cut: Callable[[], None],
        cancelled: asyncio.Event | None = None,
    ) -> None:
        self._fake = fake
        self._deliver = deliver
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
            raise _Dropped
        if self._stall_after is not None and self.sent >= self._stall_after:
            self._stall_after = None
            if not await self._stall():
                self._cut()
                raise _Dropped
        if self.sent and self._fake.event_delay_s:
            await self._pause(self._fake.event_delay_s)
        self._gated = True

    async def send(self, event: JsonObject) -> None:
        await self.gate()
        self._gated = False
        await self._deliver(event)
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
            asyncio.ensure_future(asyncio.sleep(self._fake.stall_s))
        ]
        shutdown = self._fake._shutdown
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


class FakeRealtime:
    """State and handlers of the fake's WebSocket endpoints; owned by a ``FakeOpenAI``.

    Like the rest of the fake it is touched only from the event loop serving the app.
    """

    def __init__(self, fake: FakeOpenAI) -> None:
        self._fake = fake
        self._calls: dict[str, _Call] = {}
        self._secrets: dict[str, _Secret] = {}
        self._peers: set[web.WebSocketResponse] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._handlers: dict[str, Callable[[_Session, _Peer, JsonObject], Awaitable[None]]] = {
            "session.update": self._session_update,
            "input_audio_buffer.append": self._buffer_append,
            "input_audio_buffer.commit": self._buffer_commit,
            "input_audio_buffer.clear": self._buffer_clear,
            "output_audio_buffer.clear": self._output_buffer_clear,
            "conversation.item.create": self._item_create,
            "conversation.item.retrieve": self._item_retrieve,
            "conversation.item.truncate": self._item_truncate,
            "conversation.item.delete": self._item_delete,
            "response.create": self._response_create,
            "response.cancel": self._response_cancel,
        }
        """The 11 GA client events, by type."""

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(REALTIME_PATH, self._realtime_socket)
        app.router.add_post(CALLS_PATH, self._create_call)
        app.router.add_post(CALLS_PATH + "/{call_id}/{action}", self._call_action)
        app.router.add_post(REALTIME_PATH + "/client_secrets", self._create_client_secret)
        app.router.add_get(RESPONSES_PATH, self._responses_socket)
        app.on_shutdown.append(self._close_all)

    def clear(self) -> None:
        """Forget calls and client secrets (open sockets keep their sessions)."""
        self._calls.clear()
        self._secrets.clear()

    # ------------------------------------------------------------------ credentials

    @staticmethod
    def subprotocol_key(request: web.Request) -> str | None:
        """The key a browser offers as ``openai-insecure-api-key.<key>`` on ``/v1/realtime``."""
        if request.path != REALTIME_PATH:
            return None
        for header in request.headers.getall("Sec-WebSocket-Protocol", []):
            for protocol in header.split(","):
                protocol = protocol.strip()
                if protocol.startswith(SUBPROTOCOL_KEY_PREFIX):
                    return protocol.removeprefix(SUBPROTOCOL_KEY_PREFIX)
        return None

    def accepts_client_secret(self, path: str, presented: str) -> bool:
        """Whether an unexpired ``ek_`` secret may authenticate a request to ``path``."""
        return path in (REALTIME_PATH, CALLS_PATH) and self._secret(presented) is not None

    def _secret(self, value: str | None) -> _Secret | None:
        secret = self._secrets.get(value) if value else None
        if secret is None or secret.expires_at <= time.time():
            return None
        return secret

    def _presented_secret(self, request: web.Request) -> tuple[bool, _Secret | None]:
        """Whether the request's credential is an ``ek_`` secret, and that secret if live."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        presented = value.strip() if scheme.lower() == "bearer" else ""
        presented = presented or self.subprotocol_key(request) or ""
        return presented.startswith("ek_"), self._secret(presented)

    # ------------------------------------------------------------------ client secrets

    async def _create_client_secret(self, request: web.Request) -> web.StreamResponse:
        payload = await self._fake._payload(request)
        expires_after = payload.get("expires_after") or {}
        if not isinstance(expires_after, dict):
            raise ApiError(400, "Invalid type for 'expires_after'.", param="expires_after")
        low, default, high = CLIENT_SECRET_TTL_S
        seconds = expires_after.get("seconds", default)
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not low <= seconds <= high:
            raise ApiError(
                400,
                f"Invalid 'expires_after.seconds': expected an integer between {low} and "
                f"{high}, but got {seconds!r} instead.",
                param="expires_after.seconds",
                code="invalid_value",
            )
        if expires_after.get("anchor", "created_at") != "created_at":
            raise ApiError(
                400,
                "Invalid 'expires_after.anchor': expected 'created_at'.",
                param="expires_after.anchor",
                code="invalid_value",
            )
        raw = payload.get("session") or {"type": "realtime"}
        model = raw.get("model") if isinstance(raw, dict) else None
        config = _merge_session(
            _default_session(
                _new_id("sess_", 12), model if isinstance(model, str) else DEFAULT_MODEL
            ),
            raw,
        )
        value = _new_id("ek_", 16)
        expires_at = int(time.time()) + seconds
        self._secrets[value] = _Secret(expires_at, config)
        return await self._fake._json(
            request, {"value": value, "expires_at": expires_at, "session": config}
        )

    # ------------------------------------------------------------------ calls

    def _new_session(self, model: str | None, secret: _Secret | None, update: Any) -> _Session:
        """A session from (in increasing precedence) the defaults or a client secret's session,
        the ``update`` sent with it, and the ``model`` of the connection URL."""
        if not model and isinstance(update, dict) and isinstance(update.get("model"), str):
            model = update["model"]
        session_id = _new_id("sess_", 12)
        if secret is not None:
            base = {**secret.session, "id": session_id}
            base["expires_at"] = int(time.time()) + SESSION_TTL_S
        else:
            base = _default_session(session_id, model or DEFAULT_MODEL)
        if model:
            base["model"] = model
        config = _merge_session(base, update) if update is not None else base
        return _Session(id=session_id, config=config)

    async def _create_call(self, request: web.Request) -> web.StreamResponse:
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
        _, secret = self._presented_secret(request)
        session = self._new_session(None, secret, update)
        call_id = _new_id("rtc_", 16)
        session.call_id = call_id
        self._calls[call_id] = _Call(call_id, session, offer)
        return web.Response(
            status=201,
            body=_sdp_answer(),
            content_type="application/sdp",
            headers={"Location": f"{CALLS_PATH}/{call_id}"},
        )

    def _live_call(self, call_id: str) -> _Call:
        call = self._calls.get(call_id)
        if call is None or call.ended:
            raise ApiError(
                404,
                f"Call with id '{call_id}' not found.",
                param="call_id",
                code="call_id_not_found",
            )
        return call

    async def _call_action(self, request: web.Request) -> web.StreamResponse:
        action = request.match_info["action"]
        if action not in ("accept", "reject", "hangup", "refer"):
            raise ApiError(404, f"Invalid URL ({request.method} {request.path})")
        call = self._live_call(request.match_info["call_id"])
        if action == "accept":
            payload = await self._fake._payload(request)
            if payload.get("type") != "realtime":
                raise ApiError(
                    400,
                    "Missing required parameter: 'type'.",
                    param="type",
                    code="missing_required_parameter",
                )
            call.session.config = _merge_session(call.session.config, payload, "")
        elif action in ("reject", "hangup"):
            call.ended = True
            if action == "hangup":
                self._fake.hung_up.add(call.id)
            self._end_session(call.session, WSCloseCode.OK, b"call ended")
        return web.Response(status=200)

    def _end_session(self, session: _Session, code: int, reason: bytes) -> None:
        if session.active is not None and session.active.task is not None:
            session.active.task.cancel()
        for peer in list(session.peers):
            self._spawn(peer.ws.close(code=code, message=reason))

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
            item = _Item(
                {**self._message("user"), "content": [{"type": "input_audio", "transcript": text}]},
                {0: nbytes},
            )
        else:
            item = _Item(
                {**self._message("user"), "content": [{"type": "input_text", "text": text}]}
            )
        session.items.append(item)
        previous = session.previous_id(len(session.items) - 1)
        plan, fault = self._plan(session, {})
        before: list[JsonObject] = []
        if nbytes:
            ms = nbytes * 1000 // AUDIO_BYTES_PER_SECOND
            before += [
                self._event("input_audio_buffer.speech_started", audio_start_ms=0, item_id=item.id),
                self._event("input_audio_buffer.speech_stopped", audio_end_ms=ms, item_id=item.id),
                self._event(
                    "input_audio_buffer.committed", item_id=item.id, previous_item_id=previous
                ),
            ]
        before += [
            self._event("conversation.item.added", item=item.obj, previous_item_id=previous),
            self._event("conversation.item.done", item=item.obj, previous_item_id=previous),
        ]
        self._start(session, plan, fault, before)
        return plan.response_id

    # ------------------------------------------------------------------ Realtime socket

    async def _realtime_socket(self, request: web.Request) -> web.StreamResponse:
        call_id = request.query.get("call_id")
        model = request.query.get("model")
        is_secret, secret = self._presented_secret(request)
        if call_id is not None:
            if is_secret:
                # A sideband needs the standard key; an ephemeral one finds no call (issues).
                raise ApiError(
                    404,
                    f"Call with id '{call_id}' not found.",
                    param="call_id",
                    code="call_id_not_found",
                )
            session = self._live_call(call_id).session
        else:
            if not model and secret is not None:
                model = str(secret.session.get("model") or "") or None
            if not model:
                raise ApiError(
                    400,
                    "Missing required parameter: 'model'.",
                    param="model",
                    code="missing_required_parameter",
                )
            session = self._new_session(model, secret, None)
        ws = web.WebSocketResponse(
            protocols=("realtime",), max_msg_size=MAX_MESSAGE_BYTES, timeout=2.0
        )
        if not ws.can_prepare(request).ok:
            raise ApiError(400, "Expected a WebSocket upgrade request.")
        fault = _carried(request)
        await ws.prepare(request)
        peer = _Peer(ws, request)
        session.peers.append(peer)
        self._peers.add(ws)
        if fault is not None:
            session.fault = fault
        try:
            await self._deliver_to(peer, self._event("session.created", session=session.config))
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._client_event(session, peer, message.data)
                elif message.type == WSMsgType.BINARY:
                    await self._error(
                        peer,
                        ApiError(
                            400,
                            "Binary frames are not supported; send JSON text.",
                            code="invalid_json",
                        ),
                        None,
                    )
                else:
                    break
        finally:
            self._peers.discard(ws)
            if peer in session.peers:
                session.peers.remove(peer)
            active = session.active
            if session.call_id is None and active is not None and active.task is not None:
                active.task.cancel()
        return ws

    async def _client_event(self, session: _Session, peer: _Peer, data: str) -> None:
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            event = None
        if not isinstance(event, dict):
            error = ApiError(
                400,
                "The server could not parse the event: expected a JSON object.",
                code="invalid_json",
            )
            await self._error(peer, error, None)
            return
        self._fake.realtime_events.append((session.id, event))
        client_event_id = event.get("event_id")
        kind = event.get("type")
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        try:
            if handler is None:
                supported = ", ".join(f"'{name}'" for name in self._handlers)
                raise ApiError(
                    400,
                    f"Invalid value: '{kind}'. Supported values are: {supported}.",
                    code="unknown_event",
                )
            await handler(session, peer, event)
        except ApiError as exc:
            await self._error(peer, exc, client_event_id)

    async def _session_update(self, session: _Session, peer: _Peer, event: JsonObject) -> None:
        update = event.get("session")
        if isinstance(update, dict) and "type" not in update:
            raise ApiError(
                400,
                "Missing required parameter: 'session.type'.",
                param="session.type",
                code="missing_required_parameter",
            )
        session.config = _merge_session(session.config, update)
        await self._broadcast(session, self._event("session.updated", session=session.config))

    async def _buffer_append(self, session: _Session, peer: _Peer, event: JsonObject) -> None:
        session.audio_buffer += _decode_audio(event.get("audio"), "audio")

    async def _buffer_commit(self, session: _Session, peer: _Peer, event: JsonObject) -> None:
        nbytes = len(session.audio_buffer)
        if nbytes < MIN_COMMIT_BYTES:
            ms = nbytes * 1000 / AUDIO_BYTES_PER_SECOND
            raise ApiError(
                400,
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"100ms of audio, but buffer only has {ms:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
        session.audio_buffer.clear()
        item = _Item(
            {**self._message("user"), "content": [{"type": "input_audio", "transcript": None}]},
            {0: nbytes},
        )
        session.items.append(item)
        previous = session.previous_id(len(session.items) - 1)
        for name, fields in (
            ("input_audio_buffer.committed", {"item_id": item.id}),
            ("conversation.item.added", {"item": item.obj}),
            ("conversation.item.done", {"item": item.obj}),
        ):
            await self._broadcast(session, self._event(name, **fields, previous_item_id=previous))

    async def _buffer_clear(self, session: _Session, peer: _Peer, event: JsonObject) -> None:
        session.audio_buffer.clear()
        await self._broadcast(session, self._event("input_audio_buffer.cleared"))

    async def _output_buffer_clear(self, session: _Session, peer: _Peer, event: JsonObject) -> None:
        if session.call_id is None:
            raise ApiError(
                400,
                "output_audio_buffer.clear is only supported for WebRTC and SIP sessions.",
                code="invalid_event",
            )
        response_id = session.active.id if session.active else session.last_response_id
        await self._broadcast(
            session, self._event("output_audio_buffer.cleared", response_id=response_id or "")
        )

    async def _item_create(self, session: _Session, peer: _Peer, event: JsonObject) -> None:
        item = self._make_item(event.get("item"), "item")
        if session.find(item.id) is not None:
            raise ApiError(
                400,
                f"Item with id '{item.id}' already exists.",
                param="item.id",
                code="item_already_exists",
            )
        after = event.get("previous_item_id")
        if after is None:
            index = len(session.items)
        elif after == "root":
            index = 0
        else:
            found = session.find(after)
            if found is None:
                raise ApiError(
                    400,
                    f"Item with id '{after}' not found.",
                    param="previous_item_id",
                    code="item_not_found",
                )
            index = found + 1
        session.items.insert(index, item)
        previous = session.previous_id(index)
        for name in ("conversation.item.added", "conversation.item.done"):
            await self._broadcast(
                session, self._event(name, item=item.obj, previous_item_id=previous)
            )

    def _existing(self, session: _Session, event: JsonObject) -> _Item:
        index = session.find(event.get("item_id"))
        if index is None:
            raise ApiError(
                400,
                f"Item with id '{event.get('item_id')}' not found.",
                param="item_id",
                code="item_not_found",
            )
        return session.items[index]

    async def _item_retrieve(self, session: _Session, peer: _Peer, event: JsonObject) -> None:
        item = self._existing(session, event)
        await self._deliver_to(peer, self._event("conversation.item.retrieved", item=item.obj))

    async def _item_delete(self, session: _Session, peer: _Peer, event: JsonObject) -> None:
        item = self._existing(session, event)
        session.items.remove(item)
        await self._broadcast(session, self._event("conversation.item.deleted", item_id=item.id))

    async def _item_truncate(self, session: _Session, peer: _Peer, event: JsonObject) -> None:
        item = self._existing(session, event)
        index, end_ms = event.get("content_index"), event.get("audio_end_ms")
        if (
            not isinstance(index, int)
            or index not in item.audio_bytes
            or item.obj["role"] != ("assistant")
        ):
            raise ApiError(
                400,
                "Invalid 'content_index': only assistant audio can be truncated.",
                param="content_index",
                code="invalid_value",
            )
        if isinstance(end_ms, bool) or not isinstance(end_ms, int) or end_ms < 0:
            raise ApiError(
                400, "Invalid 'audio_end_ms'.", param="audio_end_ms", code="invalid_value"
            )
        item.audio_bytes[index] = min(
            item.audio_bytes[index], end_ms * AUDIO_BYTES_PER_SECOND // 1000
        )
        await self._broadcast(
            session,
            self._event(
                "conversation.item.truncated",
                item_id=item.id,
                content_index=index,
                audio_end_ms=end_ms,
            ),
        )

    async def _response_cancel(self, session: _Session, peer: _Peer, event: JsonObject) -> None:
        active = session.active
        wanted = event.get("response_id")
        if active is None or (wanted is not None and wanted != active.id):
            raise ApiError(
                400,
                "Cancellation failed: no active response found.",
                code="response_cancel_not_active",
            )
        active.cancelled.set()

    async def _response_create(self, session: _Session, peer: _Peer, event: JsonObject) -> None:
        overrides = event.get("response") or {}
        if not isinstance(overrides, dict):
            raise ApiError(400, "Invalid type for 'response'.", param="response")
        plan, fault = self._plan(session, overrides)
        self._start(session, plan, fault, [])

    # ------------------------------------------------------------------ Realtime responses

    @staticmethod
    def _message(role: str, status: str = "completed") -> JsonObject:
        return {
            "id": _item_id(),
            "type": "message",
            "object": "realtime.item",
            "status": status,
            "role": role,
        }

    def _make_item(self, raw: Any, param: str) -> _Item:
        if not isinstance(raw, dict):
            raise ApiError(400, f"Invalid type for '{param}': expected an object.", param=param)
        kind = raw.get("type", "message")
        item_id = raw.get("id") if isinstance(raw.get("id"), str) else _item_id()
        base = {"id": item_id, "type": kind, "object": "realtime.item", "status": "completed"}
        if kind == "function_call":
            return _Item(
                {
                    **base,
                    "call_id": raw.get("call_id") or _new_id("call_", 12),
                    "name": raw.get("name"),
                    "arguments": raw.get("arguments") or "",
                }
            )
        if kind == "function_call_output":
            return _Item({**base, "call_id": raw.get("call_id"), "output": raw.get("output") or ""})
        if kind != "message":
            raise ApiError(
                400,
                f"Invalid value for '{param}.type': {kind!r}.",
                param=f"{param}.type",
                code="invalid_value",
            )
        role = raw.get("role")
        if role not in _PART_TYPES:
            raise ApiError(
                400,
                f"Invalid value for '{param}.role': {role!r}.",
                param=f"{param}.role",
                code="invalid_value",
            )
        content = raw.get("content")
        if not isinstance(content, list):
            raise ApiError(
                400,
                f"Invalid type for '{param}.content': expected an array.",
                param=f"{param}.content",
                code="invalid_type",
            )
        echoed: list[JsonObject] = []
        audio: dict[int, int] = {}
        for index, part in enumerate(content):
            where = f"{param}.content[{index}]"
            ptype = part.get("type") if isinstance(part, dict) else None
            if not isinstance(part, dict) or ptype not in _PART_TYPES[role]:
                raise ApiError(
                    400,
                    f"Invalid value for '{where}.type': {ptype!r} is not allowed in a "
                    f"{role} message.",
                    param=f"{where}.type",
                    code="invalid_value",
                )
            if ptype in ("input_audio", "output_audio"):
                pcm = _decode_audio(part["audio"], f"{where}.audio") if "audio" in part else b""
                audio[index] = len(pcm)
                echoed.append({"type": ptype, "transcript": part.get("transcript")})
            elif ptype == "input_image":
                echoed.append(dict(part))
            else:
                text = part.get("text")
                if not isinstance(text, str):
                    raise ApiError(
                        400,
                        f"Invalid type for '{where}.text': expected a string.",
                        param=f"{where}.text",
                        code="invalid_type",
                    )
                echoed.append({"type": ptype, "text": text})
        return _Item({**base, "role": role, "content": echoed}, audio)

    def _plan(self, session: _Session, overrides: JsonObject) -> tuple[_Plan, Fault | None]:
        """Fix a response's prompt, answer and settings, and reserve the session for it."""
        if session.active is not None:
            raise ApiError(
                400,
                "Conversation already has an active response in progress: "
                f"{session.active.id}. Wait until the response is finished before creating "
                "a new one.",
                code="conversation_already_has_active_response",
            )
        config = session.config
        modality = _check_modalities(
            overrides.get("output_modalities", config.get("output_modalities", ["audio"])),
            "response.output_modalities",
        )
        cap = _check_max_output_tokens(
            overrides.get("max_output_tokens", config.get("max_output_tokens", "inf")),
            "response.max_output_tokens",
        )
        conversation = overrides.get("conversation", "auto")
        if conversation not in ("auto", "none"):
            raise ApiError(
                400,
                f"Invalid value for 'response.conversation': {conversation!r}.",
                param="response.conversation",
                code="invalid_value",
            )
        instructions = overrides.get("instructions", config.get("instructions")) or ""
        if not isinstance(instructions, str):
            raise ApiError(
                400, "Invalid type for 'response.instructions'.", param="response.instructions"
            )
        raw_input = overrides.get("input")
        if raw_input is None:
            items = list(session.items)
        elif isinstance(raw_input, list):
            items = []
            for index, raw in enumerate(raw_input):
                if isinstance(raw, dict) and raw.get("type") == "item_reference":
                    found = session.find(raw.get("id"))
                    if found is None:
                        raise ApiError(
                            400,
                            f"Item with id '{raw.get('id')}' not found.",
                            param=f"response.input[{index}].id",
                            code="item_not_found",
                        )
                    items.append(session.items[found])
                else:
                    items.append(self._make_item(raw, f"response.input[{index}]"))
        else:
            raise ApiError(400, "Invalid type for 'response.input'.", param="response.input")
        output_audio = _object(_object(config.get("audio")).get("output"))
        override_audio = _object(_object(overrides.get("audio")).get("output"))

        prompt = (
            [_Part(f"instructions:{instructions}", "text", text_tokens(instructions))]
            if instructions
            else []
        )
        prompt += [part for item in items for part in item.parts()]
        cached: list[_Part] = []
        for now, before in zip(prompt, session.last_prompt, strict=False):
            if now != before:
                break
            cached.append(now)

        fault = session.fault
        session.fault = None
        if fault is None:
            fault = self._fake._pop_fault(REALTIME_PATH, b"", session.model)
        if fault is not None and fault.output_text is not None:
            deltas = split_deltas(fault.output_text)
        else:
            users = [item for item in items if item.obj.get("role") == "user"]
            source = users[-1].spoken_text() if users else ""
            deltas = split_deltas(" ".join(answer_words(source)))
        plan = _Plan(
            response_id=_new_id("resp_", 12),
            item_id=_item_id(),
            modality=modality,
            cap=cap,
            prompt=prompt,
            cached=cached,
            deltas=deltas,
            in_conversation=conversation == "auto",
            metadata=overrides.get("metadata"),
            voice=override_audio.get("voice", output_audio.get("voice")),
            audio_format=override_audio.get("format", output_audio.get("format")),
            forced_incomplete=fault is not None and fault.incomplete,
        )
        session.last_prompt = prompt
        session.last_response_id = plan.response_id
        session.active = _Active(plan.response_id)
        return plan, fault

    def _start(
        self, session: _Session, plan: _Plan, fault: Fault | None, before: list[JsonObject]
    ) -> None:
        active = session.active
        assert active is not None
        task = asyncio.get_running_loop().create_task(
            self._run_response(session, plan, fault, active, before)
        )
        active.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_response(
        self,
        session: _Session,
        plan: _Plan,
        fault: Fault | None,
        active: _Active,
        before: list[JsonObject],
    ) -> None:
        item: _Item | None = None
        produced: list[str] = []
        try:
            for event in before:
                await self._broadcast(session, event)
            if fault is not None and fault.delay_s:
                await asyncio.sleep(fault.delay_s)
            if fault is not None and fault.drop_connection:
                self._cut(session)
                return
            if fault is not None and fault.body is not None:
                for peer in list(session.peers):
                    await self._deliver_raw(peer, fault.body.decode(errors="replace"))
                return
            if fault is not None and fault.status is not None:
                await self._broadcast_error(session, _fault_error(fault.status))
                return

            pacer = _Pacer(
                self._fake,
                fault,
                lambda event: self._broadcast(session, event),
                lambda: self._cut(session),
                active.cancelled,
            )
            item = _Item(
                self._message("assistant", "in_progress") | {"id": plan.item_id, "content": []}
            )
            previous: str | None = None
            if plan.in_conversation:
                session.items.append(item)
                previous = session.previous_id(len(session.items) - 1)
            where = {"response_id": plan.response_id, "item_id": item.id, "output_index": 0}
            text = plan.modality == "text"
            await pacer.send(
                self._event("response.created", response=self._response(session, plan, None, []))
            )
            await pacer.send(self._rate_limits(plan))
            added = {**item.obj, "content": []}
            await pacer.send(
                self._event(
                    "response.output_item.added",
                    response_id=plan.response_id,
                    output_index=0,
                    item=added,
                )
            )
            if plan.in_conversation:
                await pacer.send(
                    self._event("conversation.item.added", item=added, previous_item_id=previous)
                )
            empty_part = (
                {"type": "text", "text": ""} if text else {"type": "audio", "transcript": ""}
            )
            await pacer.send(
                self._event(
                    "response.content_part.added", **where, content_index=0, part=empty_part
                )
            )
            per_word = 1 if text else 1 + AUDIO_BYTES_PER_WORD // OUTPUT_AUDIO_BYTES_PER_TOKEN
            truncated = False
            for delta in plan.deltas:
                if isinstance(plan.cap, int) and (len(produced) + 1) * per_word > plan.cap:
                    truncated = True
                    break
                await pacer.gate()
                if active.cancelled.is_set():
                    break
                produced.append(delta)
                if text:
                    await pacer.send(
                        self._event(
                            "response.output_text.delta", **where, content_index=0, delta=delta
                        )
                    )
                    continue
                await pacer.send(
                    self._event(
                        "response.output_audio_transcript.delta",
                        **where,
                        content_index=0,
                        delta=delta,
                    )
                )
                await pacer.send(
                    self._event(
                        "response.output_audio.delta",
                        **where,
                        content_index=0,
                        delta=_b64(bytes(AUDIO_BYTES_PER_WORD)),
                    )
                )
            cancelled = active.cancelled.is_set()
            incomplete = cancelled or truncated or plan.forced_incomplete
            said = "".join(produced)
            self._finish_item(item, plan, produced, incomplete)
            if text:
                await pacer.send(
                    self._event("response.output_text.done", **where, content_index=0, text=said)
                )
                part: JsonObject = {"type": "text", "text": said}
            else:
                await pacer.send(
                    self._event("response.output_audio.done", **where, content_index=0)
                )
                await pacer.send(
                    self._event(
                        "response.output_audio_transcript.done",
                        **where,
                        content_index=0,
                        transcript=said,
                    )
                )
                part = {"type": "audio", "transcript": said}
            await pacer.send(
                self._event("response.content_part.done", **where, content_index=0, part=part)
            )
            await pacer.send(
                self._event(
                    "response.output_item.done",
                    response_id=plan.response_id,
                    output_index=0,
                    item=item.obj,
                )
            )
            if plan.in_conversation:
                await pacer.send(
                    self._event("conversation.item.done", item=item.obj, previous_item_id=previous)
                )
            if cancelled:
                status, reason = "cancelled", "client_cancelled"
            elif truncated or plan.forced_incomplete:
                status, reason = "incomplete", "max_output_tokens"
            else:
                status, reason = "completed", None
            final = self._response(session, plan, (status, reason), [item.obj], produced)
            await pacer.gate()
            # Free the session first: a client may send response.create the moment it sees this.
            if session.active is active:
                session.active = None
            await pacer.send(self._event("response.done", response=final))
        except _Dropped:
            pass
        finally:
            if item is not None and item.obj["status"] == "in_progress":
                self._finish_item(item, plan, produced, True)
            if session.active is active:
                session.active = None

    @staticmethod
    def _finish_item(item: _Item, plan: _Plan, produced: list[str], incomplete: bool) -> None:
        said = "".join(produced)
        item.obj["status"] = "incomplete" if incomplete else "completed"
        if plan.modality == "text":
            item.obj["content"] = [{"type": "output_text", "text": said}]
        else:
            item.obj["content"] = [{"type": "output_audio", "transcript": said}]
            item.audio_bytes[0] = len(produced) * AUDIO_BYTES_PER_WORD

    def _response(
        self,
        session: _Session,
        plan: _Plan,
        ending: tuple[str, str | None] | None,
        output: list[JsonObject],
        produced: list[str] | None = None,
    ) -> JsonObject:
        """A ``realtime.response``: in progress (``ending`` None) or final, with usage."""
        usage: JsonObject | None = None
        status_details: JsonObject | None = None
        status = "in_progress"
        if ending is not None:
            status, reason = ending
            status_details = {"type": status, "reason": reason, "error": None}
            usage = self._usage(plan, len(produced or []))
        return {
            "id": plan.response_id,
            "object": "realtime.response",
            "status": status,
            "status_details": status_details,
            "output": output,
            "conversation_id": session.conversation_id if plan.in_conversation else None,
            "output_modalities": [plan.modality],
            "max_output_tokens": plan.cap,
            "audio": {"output": {"format": plan.audio_format, "voice": plan.voice}},
            "usage": usage,
            "metadata": plan.metadata,
        }

    @staticmethod
    def _usage(plan: _Plan, words: int) -> JsonObject:
        def by_kind(parts: list[_Part]) -> dict[PartKind, int]:
            totals: dict[PartKind, int] = {"text": 0, "audio": 0, "image": 0}
            for part in parts:
                totals[part.kind] += part.tokens
            return totals

        used, cached = by_kind(plan.prompt), by_kind(plan.cached)
        out_text = words
        out_audio = 0
        if plan.modality == "audio":
            out_audio = words * AUDIO_BYTES_PER_WORD // OUTPUT_AUDIO_BYTES_PER_TOKEN
        input_tokens = sum(used.values())
        output_tokens = out_text + out_audio
        return {
            "total_tokens": input_tokens + output_tokens,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "input_token_details": {
                "text_tokens": used["text"],
                "audio_tokens": used["audio"],
                "image_tokens": used["image"],
                "cached_tokens": sum(cached.values()),
                "cached_tokens_details": {
                    "text_tokens": cached["text"],
                    "audio_tokens": cached["audio"],
                    "image_tokens": cached["image"],
                },
            },
            "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
        }

    def _rate_limits(self, plan: _Plan) -> JsonObject:
        reserved = sum(part.tokens for part in plan.prompt)
        reserved += 4096 if plan.cap == "inf" else plan.cap
        return self._event(
            "rate_limits.updated",
            rate_limits=[
                {
                    "name": "requests",
                    "limit": RATE_LIMIT_REQUESTS,
                    "remaining": RATE_LIMIT_REQUESTS - 1,
                    "reset_seconds": round(60 / RATE_LIMIT_REQUESTS, 3),
                },
                {
                    "name": "tokens",
                    "limit": RATE_LIMIT_TOKENS,
                    "remaining": RATE_LIMIT_TOKENS - reserved,
                    "reset_seconds": round(reserved * 60 / RATE_LIMIT_TOKENS, 3),
                },
            ],
        )

    # ------------------------------------------------------------------ sending

    @staticmethod
    def _event(kind: str, **fields: Any) -> JsonObject:
        return {"type": kind, "event_id": _event_id(), **fields}

    async def _deliver_to(self, peer: _Peer, event: JsonObject) -> bool:
        """Send one event; False if the peer has gone (it just misses the event)."""
        return await self._deliver_raw(peer, orjson.dumps(event).decode())

    @staticmethod
    async def _deliver_raw(peer: _Peer, text: str) -> bool:
        if peer.ws.closed:
            return False
        try:
            await peer.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            return False
        return True

    async def _broadcast(self, session: _Session, event: JsonObject) -> None:
        for peer in list(session.peers):
            await self._deliver_to(peer, event)

    @staticmethod
    def _error_event(error: ApiError, client_event_id: Any) -> JsonObject:
        return FakeRealtime._event(
            "error",
            error={
                "type": error.type,
                "code": error.code,
                "message": error.message,
                "param": error.param,
                "event_id": client_event_id if isinstance(client_event_id, str) else None,
            },
        )

    async def _error(self, peer: _Peer, error: ApiError, client_event_id: Any) -> None:
        await self._deliver_to(peer, self._error_event(error, client_event_id))

    async def _broadcast_error(self, session: _Session, error: ApiError) -> None:
        await self._broadcast(session, self._error_event(error, None))

    def _cut(self, session: _Session) -> None:
        for peer in list(session.peers):
            peer.cut()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        async def run() -> None:
            with contextlib.suppress(Exception):
                await coro

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_all(self, app: web.Application) -> None:
        for task in list(self._tasks):
            task.cancel()
        for ws in list(self._peers):
            with contextlib.suppress(Exception):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")

    # ------------------------------------------------------------------ Responses socket

    async def _responses_socket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, timeout=2.0)
        if not ws.can_prepare(request).ok:
            raise ApiError(400, "Expected a WebSocket upgrade request.")
        fault = _carried(request)
        carried = [fault] if fault is not None else []
        await ws.prepare(request)
        peer = _Peer(ws, request)
        self._peers.add(ws)
        connection_id = _new_id("wsconn_", 12)
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    if not await self._responses_event(peer, connection_id, message.data, carried):
                        break
                elif message.type == WSMsgType.BINARY:
                    error = ApiError(400, "Binary frames are not supported; send JSON text.")
                    await self._deliver_to(peer, self._ws_error(error, None, None))
                else:
                    break
        finally:
            self._peers.discard(ws)
        return ws

    @staticmethod
    def _ws_error(error: ApiError, stream_id: Any, headers: dict[str, str] | None) -> JsonObject:
        """The nested error event of the Responses socket."""
        body: JsonObject = {
            "type": error.type,
            "code": error.code,
            "message": error.message,
            "param": error.param,
        }
        if headers:
            body["headers"] = headers
        event: JsonObject = {"type": "error", "error": body, "status": error.status}
        if isinstance(stream_id, str):
            event["stream_id"] = stream_id
        return event

    async def _responses_event(
        self, peer: _Peer, connection_id: str, data: str, carried: list[Fault]
    ) -> bool:
        """Handle one client message; False once the socket has been cut."""
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            event = None
        if not isinstance(event, dict):
            error = ApiError(400, "Invalid JSON: expected one event object.", code="invalid_json")
            await self._deliver_to(peer, self._ws_error(error, None, None))
            return True
        self._fake.responses_ws_events.append((connection_id, event))
        kind = event.get("type")
        stream_id = event.get("stream_id")
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
            await self._deliver_to(peer, self._ws_error(error, stream_id, None))
            return True
        payload = {
            key: value
            for key, value in event.items()
            if key not in ("type", "stream", "stream_id", "generate")
        }
        fault = carried.pop() if carried else None
        if fault is None:
            fault = self._fake._pop_fault(RESPONSES_PATH, orjson.dumps(payload))
        if fault is not None and fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault is not None and fault.drop_connection:
            peer.cut()
            return False
        if fault is not None and fault.body is not None:
            return await self._deliver_raw(peer, fault.body.decode(errors="replace"))
        try:
            if fault is not None and fault.status is not None:
                raise _fault_error(fault.status)
            if payload.get("background"):
                raise ApiError(
                    400,
                    "Background responses are not supported in WebSocket mode.",
                    param="background",
                )
            final, _ = self._fake.plan_response(payload, fault)
        except ApiError as exc:
            headers = dict(fault.headers) if fault is not None else None
            await self._deliver_to(peer, self._ws_error(exc, stream_id, headers))
            return True
        obfuscate = bool((payload.get("stream_options") or {}).get("include_obfuscation", True))

        async def deliver(out: JsonObject) -> None:
            if not await self._deliver_to(peer, out):
                raise _Dropped  # the client went away: stop streaming to nobody

        pacer = _Pacer(self._fake, fault, deliver, peer.cut)
        try:
            for out in self._fake.response_event_objects(final, obfuscate):
                if isinstance(stream_id, str):
                    out["stream_id"] = stream_id
                await pacer.send(out)
        except _Dropped:
            return False
        return True

    async def _steer(self, peer: _Peer, event: JsonObject) -> None:
        # Responses finish before the next message is read, so there is never one to steer.
        previous = event.get("previous_response_id")
        known = isinstance(previous, str) and previous in self._fake._responses
        code = "response_already_completed" if known else "response_not_found"
        message = (
            f"Response '{previous}' has already completed."
            if known
            else f"Response '{previous}' not found."
        )
        await self._deliver_to(
            peer,
            {
                "type": "response.steer.failed",
                "sequence_number": 0,
                "error": {"type": "invalid_request_error", "code": code, "message": message},
                "steer": {"previous_response_id": previous, "input": event.get("input")},
            },
        )
