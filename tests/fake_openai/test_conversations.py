"""The fake's Conversations API, driven with the official SDK and checked raw against its
types: conversations, items (add, list, retrieve, delete), pagination, 404s, and Responses
that read and extend a conversation."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from fake_clients import tokens_of
from openai.types.conversations import (
    Conversation,
    ConversationDeletedResource,
    ConversationItemList,
    Message,
)

from fake_openai.conformance import strict


def raw(client: openai.OpenAI, method: str, path: str, body: Any = None) -> Any:
    if method == "get":
        return client.get(path, cast_to=httpx.Response).json()
    if method == "delete":
        return client.delete(path, cast_to=httpx.Response).json()
    return client.post(path, body=body, cast_to=httpx.Response).json()


def test_conversation_lifecycle(client: openai.OpenAI) -> None:
    created = strict(
        Conversation,
        raw(
            client,
            "post",
            "/conversations",
            {"items": [{"role": "user", "content": "hi"}], "metadata": {"a": "1"}},
        ),
    )
    assert created.id.startswith("conv_")
    assert (created.object, created.metadata) == ("conversation", {"a": "1"})
    assert client.conversations.retrieve(created.id) == created

    updated = client.conversations.update(created.id, metadata={"b": "2"})
    assert updated.metadata == {"b": "2"}

    deleted = strict(
        ConversationDeletedResource, raw(client, "delete", f"/conversations/{created.id}")
    )
    assert (deleted.id, deleted.object, deleted.deleted) == (
        created.id,
        "conversation.deleted",
        True,
    )
    with pytest.raises(openai.NotFoundError) as caught:
        client.conversations.retrieve(created.id)
    assert (
        caught.value.response.json()["error"]["message"]
        == f"Conversation with id '{created.id}' not found."
    )
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.list(created.id)


def test_items_add_list_retrieve_delete(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    added = raw(
        client,
        "post",
        f"/conversations/{conversation.id}/items",
        {"items": [{"role": "user", "content": f"m{i}"} for i in range(3)]},
    )
    added_list = strict(ConversationItemList, added)
    assert added_list.has_more is False
    ids = [str(item.id) for item in added_list.data]
    assert all(item_id.startswith("msg_") for item_id in ids)
    assert (added["first_id"], added["last_id"]) == (ids[0], ids[-1])

    first = strict(
        ConversationItemList, raw(client, "get", f"/conversations/{conversation.id}/items?limit=2")
    )
    assert [item.id for item in first.data] == [ids[2], ids[1]], "newest first by default"
    assert first.has_more is True
    every = client.conversations.items.list(conversation.id, order="asc", limit=2)
    assert [item.id for item in every] == ids, "the SDK pages on last_id"

    item = strict(Message, raw(client, "get", f"/conversations/{conversation.id}/items/{ids[0]}"))
    assert (item.role, item.status, item.type) == ("user", "completed", "message")
    assert item.content[0].type == "input_text"

    after_delete = strict(
        Conversation, raw(client, "delete", f"/conversations/{conversation.id}/items/{ids[0]}")
    )
    assert after_delete.id == conversation.id
    with pytest.raises(openai.NotFoundError) as caught:
        client.conversations.items.retrieve(ids[0], conversation_id=conversation.id)
    assert caught.value.response.json()["error"]["message"] == f"Item with id '{ids[0]}' not found."


def test_items_validation(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    with pytest.raises(openai.BadRequestError) as caught:
        client.post(f"/conversations/{conversation.id}/items", body={}, cast_to=httpx.Response)
    assert caught.value.param == "items"
    with pytest.raises(openai.BadRequestError) as caught:
        client.conversations.items.create(
            conversation.id, items=[{"role": "user", "content": "x"}] * 21
        )
    assert caught.value.code == "array_above_max_length"


def test_responses_read_and_extend_a_conversation(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(
        items=[{"role": "user", "content": "my name is Ada"}]
    )
    first = client.responses.create(
        model="gpt-4.1", input="what is my name", conversation=conversation.id
    )
    assert first.conversation is not None
    assert first.conversation.id == conversation.id
    assert first.usage is not None
    assert first.usage.input_tokens == tokens_of("my name is Ada", "what is my name")
    items = list(client.conversations.items.list(conversation.id, order="asc"))
    assert [item.type for item in items] == ["message"] * 3
    assert items[-1].id == first.output[0].id

    second = client.responses.create(
        model="gpt-4.1", input="again", conversation={"id": conversation.id}
    )
    assert second.usage is not None
    assert second.usage.input_tokens == tokens_of(
        "my name is Ada", "what is my name", first.output_text, "again"
    )
    assert len(client.conversations.items.list(conversation.id).data) == 5

    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="gpt-4.1", input="x", conversation="conv_missing")
    assert (
        caught.value.response.json()["error"]["message"]
        == "Conversation with id 'conv_missing' not found."
    )
    assert caught.value.param == "conversation"
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(
            model="gpt-4.1", input="x", conversation=conversation.id, previous_response_id=first.id
        )
    assert refused.value.code == "mutually_exclusive_parameters"
