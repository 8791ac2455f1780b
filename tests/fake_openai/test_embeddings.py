"""The fake's embeddings, driven with the official SDK and checked raw against its types:
input forms, both encodings, dimensions, usage and validation."""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

import httpx
import openai
import pytest
from fake_clients import tokens_of
from openai.types import CreateEmbeddingResponse

from fake_openai.conformance import strict


def raw_embeddings(client: openai.OpenAI, **body: Any) -> dict[str, Any]:
    answer = client.post("/embeddings", body=body, cast_to=httpx.Response)
    raw: dict[str, Any] = answer.json()
    return raw


def test_string_input_float_shape_and_usage(client: openai.OpenAI) -> None:
    text = "The quick brown fox"
    raw = raw_embeddings(
        client, model="text-embedding-3-small", input=text, encoding_format="float"
    )
    answer = strict(CreateEmbeddingResponse, raw)
    assert answer.object == "list"
    assert answer.model == "text-embedding-3-small"
    (item,) = answer.data
    assert (item.object, item.index) == ("embedding", 0)
    assert len(item.embedding) == 1536
    assert math.isclose(math.fsum(v * v for v in item.embedding), 1.0, rel_tol=1e-5)
    assert answer.usage.prompt_tokens == answer.usage.total_tokens == tokens_of(text)


def test_sdk_default_base64_decodes_to_the_float_answer(client: openai.OpenAI) -> None:
    inputs = ["alpha", "beta beta", "alpha"]
    sdk = client.embeddings.create(model="text-embedding-3-large", input=inputs)
    floats = client.embeddings.create(
        model="text-embedding-3-large", input=inputs, encoding_format="float"
    )
    assert [item.index for item in sdk.data] == [0, 1, 2]
    assert [len(item.embedding) for item in sdk.data] == [3072] * 3
    assert [item.embedding for item in sdk.data] == [item.embedding for item in floats.data]
    assert sdk.data[0].embedding == sdk.data[2].embedding, "same input, same vector"
    assert sdk.data[0].embedding != sdk.data[1].embedding
    assert sdk.usage.prompt_tokens == sum(tokens_of(text) for text in inputs)

    raw = raw_embeddings(
        client, model="text-embedding-3-small", input="x", encoding_format="base64", dimensions=8
    )
    packed = base64.b64decode(raw["data"][0]["embedding"])
    assert len(struct.unpack("<8f", packed)) == 8


def test_token_inputs_count_their_length(client: openai.OpenAI) -> None:
    one = client.embeddings.create(model="text-embedding-3-small", input=[1, 2, 3])
    assert len(one.data) == 1
    assert one.usage.prompt_tokens == 3
    many = client.embeddings.create(
        model="text-embedding-3-small", input=[[1, 2, 3], [4, 5]], dimensions=256
    )
    assert [len(item.embedding) for item in many.data] == [256, 256]
    # Like text-embedding-3: a shortened vector is the full one's prefix, renormalised.
    short, full = many.data[0].embedding, one.data[0].embedding
    scale = short[0] / full[0]
    assert all(
        math.isclose(s, f * scale, rel_tol=1e-4, abs_tol=1e-6)
        for s, f in zip(short, full[:256], strict=True)
    )
    assert many.usage.prompt_tokens == many.usage.total_tokens == 5


def test_same_request_same_answer(client: openai.OpenAI) -> None:
    body = {"model": "text-embedding-ada-002", "input": ["a b", "c"], "encoding_format": "float"}
    assert raw_embeddings(client, **body) == raw_embeddings(client, **body)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "text-embedding-3-small", "input": ""}, None),
        ({"model": "text-embedding-3-small", "input": []}, None),
        ({"model": "text-embedding-3-small", "input": [["a"]]}, None),
        ({"model": "text-embedding-ada-002", "input": "a", "dimensions": 8}, "dimensions"),
        (
            {"model": "text-embedding-3-small", "input": "a", "encoding_format": "hex"},
            "encoding_format",
        ),
        ({"input": "a"}, "model"),
    ],
)
def test_invalid_bodies(client: openai.OpenAI, body: dict[str, Any], param: str | None) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/embeddings", body=body, cast_to=httpx.Response)
    assert caught.value.param == param
