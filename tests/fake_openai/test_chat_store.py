"""The fake's stored chat completions, driven with the official SDK and checked raw against
its types: storing, list filters and pagination, metadata updates, messages, delete, 404s."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionDeleted

from fake_openai.conformance import strict, strict_page


def create(client: openai.OpenAI, text: str, model: str = "gpt-4o", **extra: Any) -> ChatCompletion:
    completion: ChatCompletion = client.chat.completions.create(
        model=model,
        messages=[{"role": "system", "content": "Be terse."}, {"role": "user", "content": text}],
        **extra,
    )
    return completion


def test_only_stored_completions_are_kept(client: openai.OpenAI) -> None:
    kept = create(client, "one", store=True, metadata={"team": "a"})
    create(client, "two")
    raw = client.get(f"/chat/completions/{kept.id}", cast_to=httpx.Response).json()
    stored = strict(ChatCompletion, raw)
    assert stored.choices[0].message.content == kept.choices[0].message.content
    assert stored.usage == kept.usage
    assert raw["metadata"] == {"team": "a"}
    assert [c.id for c in client.chat.completions.list()] == [kept.id]


def test_streamed_completion_is_stored(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hi there"}],
            stream=True,
            store=True,
        )
    )
    stored = client.chat.completions.retrieve(chunks[0].id)
    assert stored.choices[0].message.content == "Fake answer: hi there"


def test_list_filters_order_and_pages(client: openai.OpenAI) -> None:
    ids = [create(client, f"m{i}", store=True, metadata={"k": str(i % 2)}).id for i in range(4)]
    other = create(client, "x", model="gpt-4.1", store=True).id

    raw = client.get("/chat/completions?limit=2", cast_to=httpx.Response).json()
    first = strict_page(ChatCompletion, raw)
    assert [c.id for c in first] == ids[:2], "oldest first by default"
    assert raw["has_more"] is True

    assert [c.id for c in client.chat.completions.list(model="gpt-4o", limit=3)] == ids
    assert [c.id for c in client.chat.completions.list(model="gpt-4.1")] == [other]
    odd = client.chat.completions.list(metadata={"k": "1"}, order="desc")
    assert [c.id for c in odd] == [ids[3], ids[1]]


def test_update_messages_and_delete(client: openai.OpenAI) -> None:
    kept = create(client, "hello", store=True)
    updated = client.chat.completions.update(kept.id, metadata={"reviewed": "yes"})
    assert updated.metadata == {"reviewed": "yes"}

    raw = client.get(f"/chat/completions/{kept.id}/messages", cast_to=httpx.Response).json()
    assert set(raw) == {"object", "data", "first_id", "last_id", "has_more"}
    assert raw["data"] == [
        {
            "id": f"{kept.id}-0",
            "role": "system",
            "content": "Be terse.",
            "name": None,
            "content_parts": None,
        },
        {
            "id": f"{kept.id}-1",
            "role": "user",
            "content": "hello",
            "name": None,
            "content_parts": None,
        },
    ]
    page = client.chat.completions.messages.list(kept.id, limit=1, order="desc")
    assert [m.id for m in page.data] == [f"{kept.id}-1"]
    assert page.has_more is True

    raw = client.delete(f"/chat/completions/{kept.id}", cast_to=httpx.Response).json()
    deleted = strict(ChatCompletionDeleted, raw)
    assert (deleted.id, deleted.object, deleted.deleted) == (
        kept.id,
        "chat.completion.deleted",
        True,
    )
    for call in (
        lambda: client.chat.completions.retrieve(kept.id),
        lambda: client.chat.completions.messages.list(kept.id),
        lambda: client.chat.completions.delete(kept.id),
    ):
        with pytest.raises(openai.NotFoundError) as caught:
            call()
        assert (
            caught.value.response.json()["error"]["message"]
            == f"No chat completion found with id '{kept.id}'."
        )
