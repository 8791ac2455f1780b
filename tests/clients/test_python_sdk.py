"""The official Python SDK, unchanged, through the gateway: sync, async, many concurrent
streams, raw responses, and every exception class the SDK maps from an HTTP status."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from harness import GatewayServer

from fake_openai import FakeOpenAIServer
from fake_openai.faults import Fault


def sync_client(gw: GatewayServer, tenant: str = "alpha") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=gw.token(tenant), max_retries=0)


def async_client(gw: GatewayServer, tenant: str = "alpha") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.base_url, api_key=gw.token(tenant), max_retries=0)


def test_sync_responses_create_retrieve_delete(client_gw: GatewayServer) -> None:
    client = sync_client(client_gw)
    created = client.responses.create(model="gpt-5-nano", input="Say hello to the suite")
    assert created.status == "completed"
    assert created.output_text == "Fake answer: Say hello to the suite"
    assert created.usage is not None
    assert created.usage.output_tokens > 0
    assert client.responses.retrieve(created.id).output_text == created.output_text
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)


def test_sync_chat_stream_with_usage(client_gw: GatewayServer) -> None:
    client = sync_client(client_gw)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4.1",
            messages=[{"role": "user", "content": "Stream three words"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Fake answer: Stream three words"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


def test_with_raw_response_exposes_headers_and_parses(client_gw: GatewayServer) -> None:
    raw = sync_client(client_gw).responses.with_raw_response.create(
        model="gpt-5-nano", input="raw please"
    )
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.request_id is not None
    assert raw.parse().output_text == "Fake answer: raw please"


def test_request_id_is_the_upstreams(client_gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    raw = sync_client(client_gw).responses.with_raw_response.create(
        model="gpt-5-nano", input="whose id"
    )
    (answered,) = [r for r in fake.requests if r.path == "/v1/responses"]
    assert raw.request_id is not None
    assert raw.request_id.startswith("req_")
    assert raw.parse()._request_id == raw.request_id
    assert raw.headers["x-gateway-request-id"] != raw.request_id
    assert answered.json()["input"] == "whose id"


def test_async_create_and_stream_helper(client_gw: GatewayServer) -> None:
    asyncio.run(_async_create_and_stream(async_client(client_gw)))


async def _async_create_and_stream(client: openai.AsyncOpenAI) -> None:
    created = await client.responses.create(model="gpt-4.1", input="async hello")
    assert created.output_text == "Fake answer: async hello"
    async with client.responses.stream(model="gpt-5-mini", input="async stream") as stream:
        deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
        final = await stream.get_final_response()
    assert "".join(deltas) == final.output_text == "Fake answer: async stream"
    assert final.usage is not None
    assert final.usage.output_tokens_details.reasoning_tokens == 4
    await client.close()


def test_fifty_concurrent_async_streams(client_gw: GatewayServer) -> None:
    results = asyncio.run(_concurrent_streams(async_client(client_gw), 50))
    for i, (text, final_text, total) in enumerate(results):
        assert text == final_text == f"Fake answer: stream number {i}"
        assert total > 0


async def _concurrent_streams(client: openai.AsyncOpenAI, n: int) -> list[tuple[str, str, int]]:

    async def one(i: int) -> tuple[str, str, int]:
        stream = await client.responses.create(
            model="gpt-4.1", input=f"stream number {i}", stream=True
        )
        text: list[str] = []
        final_text, total = "", 0
        async for event in stream:
            if event.type == "response.output_text.delta":
                text.append(event.delta)
            elif event.type == "response.completed":
                final_text = event.response.output_text
                assert event.response.usage is not None
                total = event.response.usage.total_tokens
        return "".join(text), final_text, total

    results = await asyncio.gather(*(one(i) for i in range(n)))
    await client.close()
    return list(results)


def _error_body(status: int, code: str, param: str | None) -> bytes:
    return json.dumps(
        {
            "error": {
                "message": f"upstream says {status}",
                "type": "invalid_request_error",
                "param": param,
                "code": code,
            }
        }
    ).encode()


def test_400_bad_request_error(client_gw: GatewayServer) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sync_client(client_gw).responses.create(
            model="gpt-5-nano", input="x", previous_response_id="resp_nope"
        )
    assert caught.value.status_code == 400
    assert caught.value.code == "previous_response_not_found"
    assert caught.value.param == "previous_response_id"
    assert caught.value.type == "invalid_request_error"


def test_400_missing_model_is_openais(client_gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    direct = openai.OpenAI(base_url=fake.base_url, api_key=fake.fake.api_key, max_retries=0)
    with pytest.raises(openai.BadRequestError) as upstream:
        direct.responses.create(input="no model")
    with pytest.raises(openai.BadRequestError) as caught:
        sync_client(client_gw).responses.create(input="no model")
    assert (caught.value.code, caught.value.param) == (upstream.value.code, upstream.value.param)


def test_401_authentication_error(client_gw: GatewayServer) -> None:
    client = openai.OpenAI(base_url=client_gw.base_url, api_key="not-a-jwt", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.responses.create(model="gpt-5-nano", input="x")
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert caught.value.param is None


def test_403_permission_denied_error(client_gw: GatewayServer) -> None:
    with pytest.raises(openai.PermissionDeniedError) as caught:
        sync_client(client_gw, "beta").responses.create(model="gpt-4.1", input="x")
    assert caught.value.status_code == 403
    assert caught.value.code == "model_not_allowed"
    assert caught.value.param == "model"


def test_404_not_found_error(client_gw: GatewayServer) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        sync_client(client_gw).responses.create(model="gpt-nonexistent", input="x")
    assert caught.value.status_code == 404
    assert caught.value.code == "model_not_found"
    assert caught.value.param == "model"


@pytest.mark.parametrize(
    ("status", "error_class", "code", "param"),
    [
        (409, openai.ConflictError, "conflict", None),
        (422, openai.UnprocessableEntityError, "invalid_value", "input"),
    ],
)
def test_upstream_4xx_keeps_its_class_code_and_param(
    client_gw: GatewayServer,
    fake: FakeOpenAIServer,
    status: int,
    error_class: type[openai.APIStatusError],
    code: str,
    param: str | None,
) -> None:
    fake.inject(Fault(path="/v1/responses", status=status, body=_error_body(status, code, param)))
    with pytest.raises(error_class) as caught:
        sync_client(client_gw).responses.create(model="gpt-5-nano", input="x")
    assert caught.value.status_code == status
    assert (caught.value.code, caught.value.param) == (code, param)
    assert caught.value.message.endswith(f"upstream says {status}")


def test_429_rate_limit_error(client_gw: GatewayServer) -> None:
    client = sync_client(client_gw, "limited")
    client.responses.create(model="gpt-5-nano", input="the one request a minute")
    with pytest.raises(openai.RateLimitError) as caught:
        client.responses.create(model="gpt-5-nano", input="one too many")
    assert caught.value.status_code == 429
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.param is None
    assert int(caught.value.response.headers["retry-after"]) >= 1


def test_500_internal_server_error(client_gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(path="/v1/responses", status=500))
    with pytest.raises(openai.InternalServerError) as caught:
        sync_client(client_gw).responses.create(model="gpt-5-nano", input="x")
    assert caught.value.status_code == 500
    assert caught.value.code is None
    assert caught.value.param is None
    assert caught.value.type == "server_error"
