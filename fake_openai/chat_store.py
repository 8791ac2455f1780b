"""Stored chat completions: ``POST /v1/chat/completions`` with ``store: true`` keeps the
completion and its request messages; ``GET /v1/chat/completions`` lists them (``model``,
``metadata[key]=value``, ``order``, ``after``, ``limit``), ``GET``/``POST``/``DELETE
/v1/chat/completions/{id}`` retrieve, update ``metadata`` and delete one, and ``…/messages``
pages through its messages (ids ``{completion id}-{index}``).

Stored completions carry the request's ``metadata``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fake_openai.listing import page
from fake_openai.params import check_metadata, message_parts_text
from fake_openai.state import FakeState
from fake_openai.stores import StoredChat
from fake_openai.transport import reply_deleted, reply_json, update_metadata
from fake_openai.wire import ApiError, JsonObject

CHAT_PATH = "/v1/chat/completions"


def store_chat(state: FakeState, payload: JsonObject, completion: JsonObject) -> None:
    """Keep ``completion`` (with the request's ``metadata``) and the messages it answered."""
    obj = {**completion, "metadata": check_metadata(payload.get("metadata")) or {}}
    messages = [
        _store_message(f"{completion['id']}-{index}", message)
        for index, message in enumerate(payload.get("messages") or [])
        if isinstance(message, dict)
    ]
    state.stores.chats[completion["id"]] = StoredChat(obj, messages)


def _store_message(message_id: str, message: JsonObject) -> JsonObject:
    content = message.get("content")
    parts = content if isinstance(content, list) else None
    text = " ".join(message_parts_text(content)) if parts is not None else content
    return {
        "id": message_id,
        "role": message.get("role"),
        "content": text,
        "name": message.get("name"),
        "content_parts": parts,
    }


def _metadata_filter(query: Any) -> dict[str, str]:
    return {
        key[len("metadata[") : -1]: value
        for key, value in query.items()
        if key.startswith("metadata[") and key.endswith("]")
    }


class ChatStoreApi:
    """The stored chat completion routes."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get(CHAT_PATH, self._list)
        router.add_get(CHAT_PATH + "/{id}", self._retrieve)
        router.add_post(CHAT_PATH + "/{id}", self._update)
        router.add_delete(CHAT_PATH + "/{id}", self._delete)
        router.add_get(CHAT_PATH + "/{id}/messages", self._messages)

    def _stored(self, request: web.Request) -> StoredChat:
        completion_id = request.match_info["id"]
        stored = self._state.stores.chats.get(completion_id)
        if stored is None:
            raise ApiError(404, f"No chat completion found with id '{completion_id}'.")
        return stored

    async def _list(self, request: web.Request) -> web.StreamResponse:
        model = request.query.get("model")
        wanted = _metadata_filter(request.query)
        found = [
            stored.obj
            for stored in self._state.stores.chats.values()
            if (model is None or stored.obj["model"] == model)
            and all(stored.obj["metadata"].get(k) == v for k, v in wanted.items())
        ]
        listing = page(found, request.query, default_order="asc")
        return await reply_json(self._state, request, listing)

    async def _retrieve(self, request: web.Request) -> web.StreamResponse:
        return await reply_json(self._state, request, self._stored(request).obj)

    async def _update(self, request: web.Request) -> web.StreamResponse:
        return await update_metadata(self._state, request, self._stored(request).obj)

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        completion_id = self._stored(request).obj["id"]
        del self._state.stores.chats[completion_id]
        return await reply_deleted(self._state, request, completion_id, "chat.completion.deleted")

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        stored = self._stored(request)
        listing = page(stored.messages, request.query, default_order="asc")
        return await reply_json(self._state, request, listing)
