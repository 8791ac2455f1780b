"""The Conversations API: ``/v1/conversations`` create (optional ``items``, ``metadata``),
retrieve, update (``POST /{id}``, ``metadata``), delete; and its items: ``POST /{id}/items``
(answered with a list envelope of the items added), list (``after``, ``limit``, ``order``,
``include``), retrieve and delete (answered with the conversation).

Items are stored as Responses input items are (messages get ``msg_`` ids and ``input_text``
parts); ``POST /v1/responses`` with ``conversation`` appends its input and output here.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fake_openai.conversation_store import append_items, find_conversation, new_conversation
from fake_openai.listing import envelope, page
from fake_openai.params import check_metadata
from fake_openai.responses import normalize_input
from fake_openai.state import FakeState
from fake_openai.stores import ConversationState
from fake_openai.transport import read_payload, reply_deleted, reply_json, update_metadata
from fake_openai.wire import ApiError, JsonObject, missing_parameter

CONVERSATIONS_PATH = "/v1/conversations"
MAX_ITEMS_PER_CALL = 20


def _items(raw: Any, required: bool) -> list[JsonObject]:
    if raw is None and not required:
        return []
    if raw is None:
        raise missing_parameter("items")
    if not isinstance(raw, list):
        raise ApiError(
            400, "Invalid type for 'items': expected an array.", param="items", code="invalid_type"
        )
    if len(raw) > MAX_ITEMS_PER_CALL:
        raise ApiError(
            400,
            f"Invalid 'items': array too long. Expected an array with maximum length "
            f"{MAX_ITEMS_PER_CALL}, but got an array with length {len(raw)} instead.",
            param="items",
            code="array_above_max_length",
        )
    return normalize_input(raw)


class ConversationsApi:
    """The conversation routes."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def add_routes(self, router: web.UrlDispatcher) -> None:
        path = CONVERSATIONS_PATH
        router.add_post(path, self._create)
        router.add_get(path + "/{id}", self._retrieve)
        router.add_post(path + "/{id}", self._update)
        router.add_delete(path + "/{id}", self._delete)
        router.add_post(path + "/{id}/items", self._add_items)
        router.add_get(path + "/{id}/items", self._list_items)
        router.add_get(path + "/{id}/items/{item}", self._retrieve_item)
        router.add_delete(path + "/{id}/items/{item}", self._delete_item)

    def _conversation(self, request: web.Request) -> ConversationState:
        return find_conversation(self._state, request.match_info["id"])

    def _item(self, request: web.Request) -> tuple[ConversationState, JsonObject]:
        conversation = self._conversation(request)
        item_id = request.match_info["item"]
        item = conversation.items.get(item_id)
        if item is None:
            raise ApiError(404, f"Item with id '{item_id}' not found.")
        return conversation, item

    async def _create(self, request: web.Request) -> web.StreamResponse:
        payload = await read_payload(request)
        items = _items(payload.get("items"), required=False)
        metadata = check_metadata(payload.get("metadata"))
        conversation = new_conversation(self._state, metadata)
        append_items(conversation, items)
        return await reply_json(self._state, request, conversation.obj)

    async def _retrieve(self, request: web.Request) -> web.StreamResponse:
        return await reply_json(self._state, request, self._conversation(request).obj)

    async def _update(self, request: web.Request) -> web.StreamResponse:
        return await update_metadata(self._state, request, self._conversation(request).obj)

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        conversation_id = self._conversation(request).obj["id"]
        del self._state.stores.conversations[conversation_id]
        return await reply_deleted(self._state, request, conversation_id, "conversation.deleted")

    async def _add_items(self, request: web.Request) -> web.StreamResponse:
        conversation = self._conversation(request)
        payload = await read_payload(request)
        items = _items(payload.get("items"), required=True)
        append_items(conversation, items)
        return await reply_json(self._state, request, envelope(items, False))

    async def _list_items(self, request: web.Request) -> web.StreamResponse:
        conversation = self._conversation(request)
        listing = page(list(conversation.items.values()), request.query)
        return await reply_json(self._state, request, listing)

    async def _retrieve_item(self, request: web.Request) -> web.StreamResponse:
        _, item = self._item(request)
        return await reply_json(self._state, request, item)

    async def _delete_item(self, request: web.Request) -> web.StreamResponse:
        conversation, item = self._item(request)
        del conversation.items[item["id"]]
        return await reply_json(self._state, request, conversation.obj)
