"""Every object kind, named every way the API allows, by a tenant that does not own it.

Each call must get exactly what a nonexistent id gets, and nothing may reach
the upstream. Alpha creates one object of each kind; beta tries them all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import httpx
import openai
import pytest
from harness import GatewayServer

from fake_openai import FakeOpenAIServer


@dataclass(frozen=True)
class Objects:
    file: str
    vector_store: str
    file_batch: str
    conversation: str
    item: str
    chat_completion: str
    response: str
    upload: str
    container: str
    batch: str


@pytest.fixture(scope="module")
def objects(gateway: GatewayServer) -> Objects:
    alpha = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token("alpha"), max_retries=0)
    file = alpha.files.create(file=("a.txt", b"alpha's file"), purpose="assistants").id
    store = alpha.vector_stores.create(name="alpha", file_ids=[file]).id
    batch = alpha.vector_stores.file_batches.create(vector_store_id=store, file_ids=[file]).id
    conv = alpha.conversations.create().id
    added = alpha.conversations.items.create(
        conv, items=[{"type": "message", "role": "user", "content": "hi"}]
    )
    item = added.data[0].id
    assert item is not None
    chat = alpha.chat.completions.create(
        model="gpt-5-nano", messages=[{"role": "user", "content": "x"}], store=True
    ).id
    response = alpha.responses.create(model="gpt-5-nano", input="alpha").id
    upload = alpha.uploads.create(
        filename="u.txt", purpose="assistants", bytes=3, mime_type="text/plain"
    ).id
    container = alpha.containers.create(name="alpha").id
    line = {"custom_id": "1", "method": "POST", "url": "/v1/responses",
            "body": {"model": "gpt-5-nano", "input": "x", "max_output_tokens": 16}}  # fmt: skip
    batch_input = alpha.files.create(file=("b.jsonl", json.dumps(line).encode()), purpose="batch")
    run = alpha.batches.create(
        input_file_id=batch_input.id, endpoint="/v1/responses", completion_window="24h"
    ).id
    return Objects(file, store, batch, conv, item, chat, response, upload, container, run)


Call = Callable[[openai.OpenAI, Objects], Any]

# (what is named, how): each call names exactly one of alpha's objects.
FOREIGN: dict[str, Call] = {
    "file by path: retrieve": lambda c, o: c.files.retrieve(o.file),
    "file by path: content": lambda c, o: c.files.content(o.file),
    "file by path: delete": lambda c, o: c.files.delete(o.file),
    "file in vector_stores.create": lambda c, o: c.vector_stores.create(file_ids=[o.file]),
    "file in a responses input_file": lambda c, o: c.responses.create(
        model="gpt-5-nano",
        input=[
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_file", "file_id": o.file}],
            }
        ],
    ),
    "file in a chat file part": lambda c, o: c.chat.completions.create(
        model="gpt-5-nano",
        messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": o.file}}]}],
    ),
    "vector store by path: retrieve": lambda c, o: c.vector_stores.retrieve(o.vector_store),
    "vector store by path: update": lambda c, o: c.vector_stores.update(o.vector_store, name="x"),
    "vector store by path: delete": lambda c, o: c.vector_stores.delete(o.vector_store),
    "vector store by path: search": lambda c, o: c.vector_stores.search(o.vector_store, query="q"),
    "vector store by path: files.list": lambda c, o: c.vector_stores.files.list(o.vector_store),
    "vector store in a file_search tool": lambda c, o: c.responses.create(
        model="gpt-5-nano",
        input="q",
        tools=[{"type": "file_search", "vector_store_ids": [o.vector_store]}],
    ),
    "file batch by path": lambda c, o: c.vector_stores.file_batches.retrieve(
        o.file_batch, vector_store_id=o.vector_store
    ),
    "conversation by path: retrieve": lambda c, o: c.conversations.retrieve(o.conversation),
    "conversation by path: items.list": lambda c, o: c.conversations.items.list(o.conversation),
    "conversation by path: delete": lambda c, o: c.conversations.delete(o.conversation),
    "conversation in responses.create": lambda c, o: c.responses.create(
        model="gpt-5-nano", input="q", conversation=o.conversation
    ),
    "item in an item_reference": lambda c, o: c.responses.create(
        model="gpt-5-nano", input=[{"type": "item_reference", "id": o.item}]
    ),
    "item in a reference without its type": lambda c, o: c.responses.create(
        model="gpt-5-nano",
        input=cast(Any, [{"id": o.item}]),  # the SDK's types want a type
    ),
    "item as a reasoning item read by id": lambda c, o: c.responses.create(
        model="gpt-5-nano", input=[{"type": "reasoning", "id": o.item, "summary": []}]
    ),
    "item as a hosted tool's call read by id": lambda c, o: c.responses.create(
        model="gpt-5-nano",
        input=cast(Any, [{"type": "web_search_call", "id": o.item, "status": "completed"}]),
    ),
    "chat completion by path: retrieve": lambda c, o: c.chat.completions.retrieve(
        o.chat_completion
    ),
    "chat completion by path: messages": lambda c, o: c.chat.completions.messages.list(
        o.chat_completion
    ),
    "chat completion by path: delete": lambda c, o: c.chat.completions.delete(o.chat_completion),
    "response by path: retrieve": lambda c, o: c.responses.retrieve(o.response),
    "upload by path: parts": lambda c, o: c.uploads.parts.create(o.upload, data=b"abc"),
    "upload by path: cancel": lambda c, o: c.uploads.cancel(o.upload),
    "container by path: retrieve": lambda c, o: c.containers.retrieve(o.container),
    "container by path: files.list": lambda c, o: c.containers.files.list(o.container),
    "container in a code_interpreter tool": lambda c, o: c.responses.create(
        model="gpt-5-nano",
        input="q",
        tools=[{"type": "code_interpreter", "container": o.container}],
    ),
    "file in containers.create": lambda c, o: c.containers.create(name="x", file_ids=[o.file]),
    "batch by path: retrieve": lambda c, o: c.batches.retrieve(o.batch),
    "batch by path: cancel": lambda c, o: c.batches.cancel(o.batch),
    "file as a batch's input_file_id": lambda c, o: c.batches.create(
        input_file_id=o.file, endpoint="/v1/responses", completion_window="24h"
    ),
    "realtime call by path: hangup": lambda c, o: c.post(
        "/realtime/calls/rtc_0000/hangup", cast_to=httpx.Response
    ),
    "response in input_tokens": lambda c, o: c.responses.input_tokens.count(
        model="gpt-5-nano", previous_response_id=o.response
    ),
}


@pytest.mark.parametrize("how", sorted(FOREIGN))
def test_a_foreign_object_is_a_missing_one_and_never_forwarded(
    how: str,
    objects: Objects,
    client_for: Callable[[str], openai.OpenAI],
    fake: FakeOpenAIServer,
) -> None:
    beta = client_for("beta")
    before = len(fake.requests)
    with pytest.raises((openai.NotFoundError, openai.BadRequestError)):
        FOREIGN[how](beta, objects)
    assert len(fake.requests) == before, "a foreign id must never reach the upstream"


@pytest.mark.parametrize(
    ("template", "kind"),
    [
        ("/files/{}", "file"),
        ("/vector_stores/{}", "vector_store"),
        ("/conversations/{}", "conversation"),
        ("/chat/completions/{}", "chat_completion"),
    ],
)
def test_foreign_and_missing_ids_get_the_same_answer(
    template: str, kind: str, objects: Objects, gateway: GatewayServer
) -> None:
    headers = {"Authorization": f"Bearer {gateway.token('beta')}"}
    foreign_id = getattr(objects, kind)
    missing_id = foreign_id[:-4] + "zzzz"
    foreign = httpx.get(gateway.base_url + template.format(foreign_id), headers=headers)
    missing = httpx.get(gateway.base_url + template.format(missing_id), headers=headers)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["error"]["message"].replace(foreign_id, "X") == missing.json()["error"][
        "message"
    ].replace(missing_id, "X")


def test_lists_hold_only_the_callers_objects(
    objects: Objects, client_for: Callable[[str], openai.OpenAI]
) -> None:
    beta = client_for("beta")
    mine = beta.files.create(file=("b.txt", b"beta's"), purpose="assistants").id
    assert [f.id for f in beta.files.list()] == [mine]
    assert objects.vector_store not in {s.id for s in beta.vector_stores.list()}
    assert objects.chat_completion not in {c.id for c in beta.chat.completions.list()}
    assert objects.container not in {c.id for c in beta.containers.list()}
    assert objects.batch not in {b.id for b in beta.batches.list()}


def test_a_deleted_object_is_forgotten(
    client_for: Callable[[str], openai.OpenAI], fake: FakeOpenAIServer
) -> None:
    alpha = client_for("alpha")
    file = alpha.files.create(file=("gone.txt", b"soon gone"), purpose="assistants").id
    alpha.files.delete(file)
    before = len(fake.requests)
    with pytest.raises(openai.NotFoundError):
        alpha.files.retrieve(file)
    assert len(fake.requests) == before, "the gateway itself knows the file is gone"
