"""The rest of the OpenAI surface through the gateway, with the official SDK and a tenant JWT.

Each test is one family's methods as a service would call them; metered calls
leave one priced ledger row, object calls leave none.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import httpx
import openai
import pytest
from harness import GatewayServer, ledger_row

from fake_openai import FakeOpenAIServer


def test_embeddings_are_metered_by_input_tokens(
    alpha: openai.OpenAI, gateway: GatewayServer
) -> None:
    raw = alpha.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=["first text", "second text"]
    )
    out = raw.parse()
    assert [d.index for d in out.data] == [0, 1]
    assert out.usage.prompt_tokens > 0
    row = ledger_row(gateway.database_url, request_id=raw.headers["x-gateway-request-id"])
    assert row["endpoint"] == "embeddings"
    assert row["input_tokens"] == out.usage.prompt_tokens
    assert row["output_tokens"] == 0
    assert row["cost_nanos"] == out.usage.prompt_tokens * 20  # $0.02 per 1M tokens


def test_embeddings_base64_and_dimensions(alpha: openai.OpenAI) -> None:
    out = alpha.embeddings.create(
        model="text-embedding-3-small", input="x", dimensions=8, encoding_format="base64"
    )
    vector = out.data[0].embedding
    assert isinstance(vector, str)
    assert len(base64.b64decode(vector)) == 8 * 4


def test_moderations_are_free_but_recorded(alpha: openai.OpenAI, gateway: GatewayServer) -> None:
    raw = alpha.moderations.with_raw_response.create(input="a friendly sentence")
    assert raw.parse().results[0].flagged is False
    row = ledger_row(gateway.database_url, request_id=raw.headers["x-gateway-request-id"])
    assert (row["endpoint"], row["cost_nanos"], row["unpriced"]) == ("moderations", 0, False)


def test_models_retrieve_only_the_tenants_models(
    client_for: Callable[[str], openai.OpenAI],
) -> None:
    beta = client_for("beta")
    assert beta.models.retrieve("gpt-5-nano").id == "gpt-5-nano"
    with pytest.raises(openai.NotFoundError) as err:
        beta.models.retrieve("gpt-4.1")
    assert err.value.code == "model_not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/nothing/here"), ("GET", "/v1/embeddings"), ("PUT", "/v1/files")],
)
def test_an_unknown_url_gets_openais_answer_and_is_never_forwarded(
    method: str, path: str, gateway: GatewayServer, fake: FakeOpenAIServer
) -> None:
    before = len(fake.requests)
    resp = httpx.request(
        method, gateway.root + path, headers={"Authorization": f"Bearer {gateway.token()}"}
    )
    assert resp.status_code == 404
    assert resp.json()["error"] == {
        "message": f"Invalid URL ({method} {path})",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert len(fake.requests) == before


def test_files_round_trip(alpha: openai.OpenAI) -> None:
    created = alpha.files.create(file=("notes.txt", b"hello files"), purpose="assistants")
    assert created.id in {f.id for f in alpha.files.list()}
    assert alpha.files.retrieve(created.id).filename == "notes.txt"
    assert alpha.files.content(created.id).read() == b"hello files"
    assert alpha.files.delete(created.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        alpha.files.retrieve(created.id)


def test_vector_stores_with_the_callers_files(alpha: openai.OpenAI) -> None:
    doc = alpha.files.create(file=("doc.txt", b"the gateway meters spend"), purpose="assistants")
    extra = alpha.files.create(file=("more.txt", b"and owns objects"), purpose="assistants")
    store = alpha.vector_stores.create(name="kb", file_ids=[doc.id])
    assert store.id in {s.id for s in alpha.vector_stores.list()}
    assert alpha.vector_stores.update(store.id, name="kb2").name == "kb2"
    attached = alpha.vector_stores.files.create(vector_store_id=store.id, file_id=extra.id)
    assert attached.id == extra.id
    listed = alpha.vector_stores.files.list(vector_store_id=store.id)
    assert {f.id for f in listed} == {doc.id, extra.id}
    batch = alpha.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=[doc.id])
    again = alpha.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id)
    assert again.id == batch.id
    results = alpha.vector_stores.search(store.id, query="spend")
    assert results.data is not None
    assert alpha.vector_stores.delete(store.id).deleted is True


def test_conversations_and_their_items(alpha: openai.OpenAI) -> None:
    conv = alpha.conversations.create(metadata={"topic": "demo"})
    added = alpha.conversations.items.create(
        conv.id, items=[{"type": "message", "role": "user", "content": "hello"}]
    )
    item_id = added.data[0].id
    assert item_id is not None
    assert alpha.conversations.items.retrieve(item_id, conversation_id=conv.id).id == item_id
    alpha.responses.create(model="gpt-5-nano", input="and then?", conversation=conv.id)
    items = list(alpha.conversations.items.list(conv.id))
    assert len(items) >= 3  # hello, and then?, the answer
    alpha.conversations.items.delete(item_id, conversation_id=conv.id)
    assert alpha.conversations.update(conv.id, metadata={"topic": "x"}).metadata == {"topic": "x"}
    assert alpha.conversations.delete(conv.id).deleted is True


def test_stored_chat_completions(alpha: openai.OpenAI) -> None:
    done = alpha.chat.completions.create(
        model="gpt-5-nano", messages=[{"role": "user", "content": "keep me"}], store=True
    )
    assert done.id in {c.id for c in alpha.chat.completions.list()}
    assert alpha.chat.completions.retrieve(done.id).id == done.id
    updated = alpha.chat.completions.update(done.id, metadata={"k": "v"})
    assert updated.metadata == {"k": "v"}
    messages = list(alpha.chat.completions.messages.list(done.id))
    assert messages
    assert messages[0].content == "keep me"
    assert alpha.chat.completions.delete(done.id).deleted is True


def test_responses_input_tokens_and_compact(alpha: openai.OpenAI, gateway: GatewayServer) -> None:
    counted = alpha.responses.input_tokens.count(model="gpt-5-nano", input="count these words")
    assert counted.input_tokens > 0
    raw = alpha.responses.with_raw_response.compact(model="gpt-5-nano", input="a long history")
    compacted = raw.parse()
    row = ledger_row(gateway.database_url, request_id=raw.headers["x-gateway-request-id"])
    assert row["endpoint"] == "responses.compact"
    counted_input = int(str(row["input_tokens"])) + int(str(row["cached_input_tokens"]))
    assert counted_input == compacted.usage.input_tokens
    assert int(row["cost_nanos"]) > 0  # type: ignore[call-overload]


def test_uploads_in_parts_make_a_file_of_the_callers(alpha: openai.OpenAI) -> None:
    data = b"part one, " + b"part two"
    upload = alpha.uploads.create(
        filename="big.txt", purpose="assistants", bytes=len(data), mime_type="text/plain"
    )
    first = alpha.uploads.parts.create(upload.id, data=data[:10])
    second = alpha.uploads.parts.create(upload.id, data=data[10:])
    done = alpha.uploads.complete(upload.id, part_ids=[first.id, second.id])
    assert done.file is not None
    assert alpha.files.content(done.file.id).read() == data


def test_images_are_metered_by_tokens(alpha: openai.OpenAI, gateway: GatewayServer) -> None:
    raw = alpha.images.with_raw_response.generate(model="gpt-image-1", prompt="a lighthouse", n=2)
    out = raw.parse()
    assert out.data is not None
    assert len(out.data) == 2
    assert out.usage is not None
    row = ledger_row(gateway.database_url, request_id=raw.headers["x-gateway-request-id"])
    assert row["endpoint"] == "images.generations"
    assert row["output_tokens"] == out.usage.output_tokens
    assert int(str(row["cost_nanos"])) > 0


def test_image_edits_upload_and_stream(alpha: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 64
    edited = alpha.images.edit(model="gpt-image-1", image=("in.png", png), prompt="add a hat")
    assert edited.data
    # Without a model, the one priced here is named upstream; the image goes byte for byte.
    alpha.images.edit(image=("in.png", png), prompt="add a scarf")
    sent = fake.requests[-1].body
    assert b'name="model"\r\n\r\ngpt-image-1\r\n' in sent
    assert png in sent
    events = list(
        alpha.images.generate(model="gpt-image-1", prompt="a boat", stream=True, partial_images=1)
    )
    assert events[-1].type == "image_generation.completed"


def test_speech_is_charged_by_its_characters(alpha: openai.OpenAI, gateway: GatewayServer) -> None:
    text = "Hello from the gateway."
    raw = alpha.audio.speech.with_raw_response.create(model="tts-1", voice="alloy", input=text)
    assert raw.parse().content  # audio bytes
    row = ledger_row(gateway.database_url, request_id=raw.headers["x-gateway-request-id"])
    assert (row["endpoint"], row["cost_nanos"]) == ("audio.speech", len(text) * 15_000)


def test_transcriptions_and_translations(alpha: openai.OpenAI, gateway: GatewayServer) -> None:
    audio = ("clip.wav", b"RIFF" + b"0" * 32_000)
    raw = alpha.audio.transcriptions.with_raw_response.create(model="whisper-1", file=audio)
    assert raw.parse().text
    row = ledger_row(gateway.database_url, request_id=raw.headers["x-gateway-request-id"])
    assert row["endpoint"] == "audio.transcriptions"
    assert int(str(row["cost_nanos"])) > 0
    streamed = list(
        alpha.audio.transcriptions.create(model="gpt-4o-transcribe", file=audio, stream=True)
    )
    assert streamed[-1].type == "transcript.text.done"
    with pytest.deprecated_call():  # the SDK marks translations deprecated; they still work
        translated = alpha.audio.translations.create(model="whisper-1", file=audio)
    assert translated.text


def test_containers_are_charged_their_session_fee(
    alpha: openai.OpenAI, gateway: GatewayServer
) -> None:
    raw = alpha.containers.with_raw_response.create(name="sandbox", memory_limit="4g")
    container = raw.parse()
    row = ledger_row(gateway.database_url, request_id=raw.headers["x-gateway-request-id"])
    assert (row["endpoint"], row["requested_model"]) == ("containers.create", "container_4g")
    assert (row["cost_nanos"], row["unpriced"]) == (120_000_000, False)  # $0.12
    assert container.id in {c.id for c in alpha.containers.list()}
    added = alpha.containers.files.create(container.id, file=("data.csv", b"a,b\n1,2\n"))
    assert added.id in {f.id for f in alpha.containers.files.list(container.id)}
    content = alpha.containers.files.content.retrieve(added.id, container_id=container.id)
    assert content.read() == b"a,b\n1,2\n"
    alpha.containers.files.delete(added.id, container_id=container.id)
    alpha.containers.delete(container.id)


def test_a_stored_response_replays_as_a_stream(alpha: openai.OpenAI) -> None:
    done = alpha.responses.create(model="gpt-5-nano", input="replay me please")
    events = list(alpha.responses.retrieve(done.id, stream=True, starting_after=1))
    assert events[0].sequence_number == 2
    assert events[-1].type == "response.completed"
