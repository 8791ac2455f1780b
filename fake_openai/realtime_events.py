"""The eleven Realtime client events and what each one does to a session. An invalid event
gets an ``error`` event naming it, and the session goes on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson

from fake_openai.encoding import realtime_error, realtime_event
from fake_openai.realtime_audio import AUDIO_BYTES_PER_SECOND, MIN_COMMIT_BYTES, decode_audio
from fake_openai.realtime_config import merge_session
from fake_openai.realtime_items import make_item
from fake_openai.realtime_plan import plan_response
from fake_openai.realtime_responder import Responder
from fake_openai.realtime_session import Item, Session
from fake_openai.realtime_turns import commit_turn, voice_responds, voice_turn_ready
from fake_openai.sockets import Peer, broadcast, deliver
from fake_openai.state import FakeState
from fake_openai.wire import ApiError, JsonObject

EventHandler = Callable[[Session, Peer, JsonObject], Awaitable[None]]


class ClientEvents:
    """Dispatches the client events of every Realtime session of one fake."""

    def __init__(self, state: FakeState, responder: Responder) -> None:
        self._state = state
        self._responder = responder
        self._handlers: dict[str, EventHandler] = {
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

    async def handle(self, session: Session, peer: Peer, data: str) -> None:
        """Handle one text message from ``peer``; errors go back to that peer only."""
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
            await deliver(peer, realtime_error(error, None))
            return
        self._state.realtime_events.append((session.id, event))
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
            await deliver(peer, realtime_error(exc, client_event_id))

    async def _session_update(self, session: Session, peer: Peer, event: JsonObject) -> None:
        update = event.get("session")
        if isinstance(update, dict) and "type" not in update:
            raise ApiError(
                400,
                "Missing required parameter: 'session.type'.",
                param="session.type",
                code="missing_required_parameter",
            )
        if isinstance(update, dict) and update.get("model", session.model) != session.model:
            raise ApiError(
                400,
                "Cannot update a session's model: once a session has been initialized with a "
                "particular model, it can't be changed to another model using session.update.",
                param="session.model",
                code="invalid_value",
            )
        session.config = merge_session(session.config, update)
        await broadcast(session.peers, realtime_event("session.updated", session=session.config))

    async def _buffer_append(self, session: Session, peer: Peer, event: JsonObject) -> None:
        session.audio_buffer += decode_audio(event.get("audio"), "audio")
        if not voice_turn_ready(session):
            return
        events = commit_turn(session, voiced=True)
        if not voice_responds(session) or session.active is not None:
            for turn_event in events:
                await broadcast(session.peers, turn_event)
            return
        plan, fault = plan_response(self._state, session, {})
        self._responder.start(session, plan, fault, events)

    async def _buffer_commit(self, session: Session, peer: Peer, event: JsonObject) -> None:
        nbytes = len(session.audio_buffer)
        if nbytes < MIN_COMMIT_BYTES:
            ms = nbytes * 1000 / AUDIO_BYTES_PER_SECOND
            raise ApiError(
                400,
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"100ms of audio, but buffer only has {ms:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
        for turn_event in commit_turn(session, voiced=False):
            await broadcast(session.peers, turn_event)

    async def _buffer_clear(self, session: Session, peer: Peer, event: JsonObject) -> None:
        session.audio_buffer.clear()
        await broadcast(session.peers, realtime_event("input_audio_buffer.cleared"))

    async def _output_buffer_clear(self, session: Session, peer: Peer, event: JsonObject) -> None:
        if session.call_id is None:
            raise ApiError(
                400,
                "output_audio_buffer.clear is only supported for WebRTC and SIP sessions.",
                code="invalid_event",
            )
        response_id = session.active.id if session.active else session.last_response_id
        cleared = realtime_event("output_audio_buffer.cleared", response_id=response_id or "")
        await broadcast(session.peers, cleared)

    async def _item_create(self, session: Session, peer: Peer, event: JsonObject) -> None:
        item = make_item(event.get("item"), "item")
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
            await broadcast(
                session.peers, realtime_event(name, item=item.obj, previous_item_id=previous)
            )

    @staticmethod
    def _existing(session: Session, event: JsonObject) -> Item:
        index = session.find(event.get("item_id"))
        if index is None:
            raise ApiError(
                400,
                f"Item with id '{event.get('item_id')}' not found.",
                param="item_id",
                code="item_not_found",
            )
        return session.items[index]

    async def _item_retrieve(self, session: Session, peer: Peer, event: JsonObject) -> None:
        item = self._existing(session, event)
        await deliver(peer, realtime_event("conversation.item.retrieved", item=item.obj))

    async def _item_delete(self, session: Session, peer: Peer, event: JsonObject) -> None:
        item = self._existing(session, event)
        session.items.remove(item)
        deleted = realtime_event("conversation.item.deleted", item_id=item.id)
        await broadcast(session.peers, deleted)

    async def _item_truncate(self, session: Session, peer: Peer, event: JsonObject) -> None:
        item = self._existing(session, event)
        index, end_ms = event.get("content_index"), event.get("audio_end_ms")
        if (
            not isinstance(index, int)
            or index not in item.audio_bytes
            or item.obj["role"] != "assistant"
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
        truncated = realtime_event(
            "conversation.item.truncated",
            item_id=item.id,
            content_index=index,
            audio_end_ms=end_ms,
        )
        await broadcast(session.peers, truncated)

    async def _response_cancel(self, session: Session, peer: Peer, event: JsonObject) -> None:
        active = session.active
        wanted = event.get("response_id")
        if active is None or (wanted is not None and wanted != active.id):
            raise ApiError(
                400,
                "Cancellation failed: no active response found.",
                code="response_cancel_not_active",
            )
        active.cancelled.set()

    async def _response_create(self, session: Session, peer: Peer, event: JsonObject) -> None:
        overrides = event.get("response") or {}
        if not isinstance(overrides, dict):
            raise ApiError(400, "Invalid type for 'response'.", param="response")
        plan, fault = plan_response(self._state, session, overrides)
        self._responder.start(session, plan, fault, [])
