"""The fake's Batch API, driven with the official SDK and checked raw against its types:
create (validating the input file), list, retrieve, cancel, and ``finish_batch`` running every
line through the fake's own answerers into output and error files with counts and usage."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import orjson
import pytest
from fake_clients import tokens_of
from openai.types import Batch

from fake_openai import FakeOpenAIServer
from fake_openai.conformance import strict, strict_page


def jsonl(*lines: Any) -> bytes:
    return b"".join(
        (line if isinstance(line, bytes) else orjson.dumps(line)) + b"\n" for line in lines
    )


def batch_file(client: openai.OpenAI, data: bytes) -> str:
    return client.files.create(file=("in.jsonl", data), purpose="batch").id


MIXED = jsonl(
    {
        "custom_id": "a",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hello there"}],
        },
    },
    {
        "custom_id": "b",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "o4-mini", "messages": [{"role": "user", "content": "one two"}]},
    },
    {
        "custom_id": "c",
        "method": "POST",
        "url": "/v1/embeddings",
        "body": {"model": "x", "input": "y"},
    },
    b"not json",
)
"""Two good chat lines (one from a reasoning model), a line for the wrong URL, a broken line."""


def test_finish_runs_every_line(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    created_raw = client.post(
        "/batches",
        body={
            "input_file_id": batch_file(client, MIXED),
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
            "metadata": {"job": "1"},
        },
        cast_to=httpx.Response,
    ).json()
    created = strict(Batch, created_raw)
    assert created.id.startswith("batch_")
    assert (created.status, created.object, created.metadata) == (
        "validating",
        "batch",
        {"job": "1"},
    )
    assert created.usage is None
    assert created.output_file_id is None
    assert created.expires_at == created.created_at + 24 * 3600

    finished = strict(Batch, fake.finish_batch(created.id))
    assert finished.status == "completed"
    assert finished.model == "gpt-4o-mini"
    assert finished.request_counts is not None
    assert (
        finished.request_counts.total,
        finished.request_counts.completed,
        finished.request_counts.failed,
    ) == (4, 2, 2)
    assert finished.usage is not None
    assert finished.usage.input_tokens == tokens_of("hello there") + tokens_of("one two")
    assert finished.usage.output_tokens == 4 + (4 + 4)
    assert finished.usage.output_tokens_details.reasoning_tokens == 4
    assert finished.usage.total_tokens == finished.usage.input_tokens + finished.usage.output_tokens
    assert client.batches.retrieve(created.id) == finished, "retrieving again changes nothing"
    assert fake.finish_batch(created.id) == finished.model_dump(), "finishing twice runs nothing"


def test_finish_writes_output_and_error_files(
    client: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    created = client.batches.create(
        input_file_id=batch_file(client, MIXED),
        endpoint="/v1/chat/completions",
        completion_window="24h",
    )
    finished = strict(Batch, fake.finish_batch(created.id))
    assert finished.output_file_id
    assert finished.error_file_id
    output = client.files.retrieve(finished.output_file_id)
    assert (output.purpose, output.filename) == ("batch_output", f"{created.id}_output.jsonl")
    lines = [
        orjson.loads(line)
        for line in client.files.content(finished.output_file_id).read().splitlines()
    ]
    assert [line["custom_id"] for line in lines] == ["a", "b"]
    assert all(line["id"].startswith("batch_req_") and line["error"] is None for line in lines)
    assert lines[0]["response"]["status_code"] == 200
    assert (
        lines[0]["response"]["body"]["choices"][0]["message"]["content"]
        == "Fake answer: hello there"
    )
    errors = [
        orjson.loads(line)
        for line in client.files.content(finished.error_file_id).read().splitlines()
    ]
    assert [e["custom_id"] for e in errors] == ["c", None]
    assert errors[0]["response"]["status_code"] == 400
    assert errors[0]["response"]["body"]["error"]["param"] == "url"
    assert errors[1]["response"] is None
    assert errors[1]["error"]["code"] == "invalid_json"


def test_responses_and_embeddings_batches(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    responses = jsonl(
        {
            "custom_id": "r",
            "url": "/v1/responses",
            "method": "POST",
            "body": {"model": "gpt-4.1", "input": "three little words"},
        }
    )
    batch = client.batches.create(
        input_file_id=batch_file(client, responses),
        endpoint="/v1/responses",
        completion_window="24h",
    )
    done = fake.finish_batch(batch.id)
    assert done["usage"]["input_tokens"] == tokens_of("three little words")
    assert done["usage"]["output_tokens"] == 5

    embeddings = jsonl(
        {
            "custom_id": "e",
            "url": "/v1/embeddings",
            "method": "POST",
            "body": {"model": "text-embedding-3-small", "input": ["ab", [1, 2, 3]]},
        }
    )
    batch = client.batches.create(
        input_file_id=batch_file(client, embeddings),
        endpoint="/v1/embeddings",
        completion_window="24h",
    )
    done = fake.finish_batch(batch.id)
    assert (done["usage"]["input_tokens"], done["usage"]["output_tokens"]) == (1 + 3, 0)


def test_create_validates_the_input_file(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.batches.create(
            input_file_id="file-missing", endpoint="/v1/responses", completion_window="24h"
        )
    assert caught.value.param == "input_file_id"
    other = client.files.create(file=("a.txt", b"x"), purpose="user_data").id
    with pytest.raises(openai.BadRequestError) as refused:
        client.batches.create(
            input_file_id=other, endpoint="/v1/responses", completion_window="24h"
        )
    assert refused.value.param == "input_file_id"
    with pytest.raises(openai.BadRequestError) as refused:
        client.batches.create(input_file_id=other, endpoint="/v1/videos", completion_window="24h")
    assert refused.value.param == "endpoint"


def test_list_cancel_and_404(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    file_id = batch_file(
        client, jsonl({"custom_id": "x", "url": "/v1/moderations", "body": {"input": "hi"}})
    )
    ids = [
        client.batches.create(
            input_file_id=file_id, endpoint="/v1/moderations", completion_window="24h"
        ).id
        for _ in range(3)
    ]
    raw = client.get("/batches?limit=2", cast_to=httpx.Response).json()
    assert [b.id for b in strict_page(Batch, raw)] == [ids[2], ids[1]]
    assert [b.id for b in client.batches.list(limit=2)] == ids[::-1]

    cancelling = client.batches.cancel(ids[0])
    assert cancelling.status == "cancelling"
    assert cancelling.cancelling_at is not None
    cancelled = fake.finish_batch(ids[0])
    assert cancelled["status"] == "cancelled"
    assert cancelled["output_file_id"] is None
    assert fake.finish_batch(ids[1])["request_counts"] == {"total": 1, "completed": 1, "failed": 0}
    with pytest.raises(openai.BadRequestError):
        client.batches.cancel(ids[1])
    with pytest.raises(openai.NotFoundError) as caught:
        client.batches.retrieve("batch_missing")
    assert (
        caught.value.response.json()["error"]["message"]
        == "No batch found with id 'batch_missing'."
    )
