"""Finding a conversation by id (in a path or in a Responses ``conversation`` field) and
creating one; shared by the Conversations routes and ``POST /v1/responses``."""

from __future__ import annotations

import time
from typing import Any

from fake_openai.state import FakeState
from fake_openai.stores import ConversationState
from fake_openai.wire import ApiError, JsonObject, new_id


def find_conversation(state: FakeState, conversation_id: str) -> ConversationState:
    """The conversation ``conversation_id``, or the 404 OpenAI answers for an unknown one."""
    found = state.stores.conversations.get(conversation_id)
    if found is None:
        raise ApiError(404, f"Conversation with id '{conversation_id}' not found.")
    return found


def referenced_conversation(state: FakeState, ref: Any) -> ConversationState | None:
    """The conversation a Responses ``conversation`` field names (``"conv_…"`` or
    ``{"id": "conv_…"}``), None when absent; a 404 for an unknown id."""
    if ref is None:
        return None
    conversation_id = ref.get("id") if isinstance(ref, dict) else ref
    if not isinstance(conversation_id, str):
        raise ApiError(
            400,
            "Invalid type for 'conversation': expected a string or an object with an 'id'.",
            param="conversation",
            code="invalid_type",
        )
    found = state.stores.conversations.get(conversation_id)
    if found is None:
        raise ApiError(
            404,
            f"Conversation with id '{conversation_id}' not found.",
            param="conversation",
        )
    return found


def new_conversation(state: FakeState, metadata: JsonObject | None) -> ConversationState:
    """Store and return an empty conversation."""
    obj: JsonObject = {
        "id": new_id("conv_"),
        "object": "conversation",
        "created_at": int(time.time()),
        "metadata": metadata or {},
    }
    conversation = ConversationState(obj)
    state.stores.conversations[obj["id"]] = conversation
    return conversation


def append_items(conversation: ConversationState, items: list[JsonObject]) -> None:
    """Add items at the end of the conversation, in order."""
    for item in items:
        conversation.items[item["id"]] = item
