"""POST/GET/DELETE /v1/responses through the gateway, with the official SDK as the client."""

from __future__ import annotations

import re
from collections.abc import Callable

import openai
import pytest

from fake_openai import FakeOpenAIServer


def test_create_returns_the_upstream_response_and_usage(
    alpha: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    raw = alpha.responses.with_raw_response.create(model="gpt-5-nano", input="Say hello")
    resp = raw.parse()
    assert resp.status == "completed"
    assert resp.model == "gpt-5-nano"
    assert resp.output_text.startswith("Fake answer:")
    assert resp.usage is not None
    assert resp.usage.output_tokens > 0
    # OpenAI's id, as the SDK reads it for a ticket to OpenAI; the gateway's beside it.
    assert re.fullmatch(r"req_[0-9a-f]{32}", raw.headers["x-request-id"])
    assert raw.request_id == raw.headers["x-request-id"]
    assert raw.headers["x-gateway-request-id"].startswith("req_")
    assert raw.headers["x-gateway-request-id"] != raw.headers["x-request-id"]
    (sent,) = fake.requests
    assert sent.path == "/v1/responses"
    assert sent.json()["input"] == "Say hello"


def test_stream_delivers_every_event_in_order(alpha: openai.OpenAI) -> None:
    with alpha.responses.stream(model="gpt-5-mini", input="Count to three please") as stream:
        events = list(stream)
        final = stream.get_final_response()
    types = [e.type for e in events]
    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    assert "response.output_text.delta" in types
    seq = [e.sequence_number for e in events]
    assert seq == sorted(seq)
    assert len(set(seq)) == len(seq)
    assert final.usage is not None
    assert final.usage.output_tokens_details.reasoning_tokens > 0


def test_incomplete_when_max_output_tokens_is_hit(alpha: openai.OpenAI) -> None:
    resp = alpha.responses.create(
        model="gpt-4.1", input="a long question with many words in it", max_output_tokens=2
    )
    assert resp.status == "incomplete"
    assert resp.incomplete_details is not None
    assert resp.incomplete_details.reason == "max_output_tokens"


def test_retrieve_delete_and_input_items_of_own_response(alpha: openai.OpenAI) -> None:
    created = alpha.responses.create(model="gpt-5-nano", input="Remember this")
    again = alpha.responses.retrieve(created.id)
    assert again.id == created.id
    assert again.output_text == created.output_text
    items = alpha.responses.input_items.list(created.id)
    assert [i.type for i in items.data] == ["message"]
    alpha.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        alpha.responses.retrieve(created.id)


def test_retrieve_works_for_streamed_responses_too(alpha: openai.OpenAI) -> None:
    with alpha.responses.stream(model="gpt-5-nano", input="streamed") as stream:
        final = stream.get_final_response()
    assert alpha.responses.retrieve(final.id).id == final.id


def test_cancel_background_response(alpha: openai.OpenAI) -> None:
    queued = alpha.responses.create(model="gpt-5-nano", input="slow job", background=True)
    assert queued.status == "queued"
    cancelled = alpha.responses.cancel(queued.id)
    assert cancelled.status == "cancelled"


def test_previous_response_id_chain(alpha: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    first = alpha.responses.create(model="gpt-5-nano", input="My name is Ada.")
    second = alpha.responses.create(
        model="gpt-5-nano", input="What is my name?", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    third = alpha.responses.create(
        model="gpt-5-nano", input="And again?", previous_response_id=second.id
    )
    assert third.previous_response_id == second.id
    assert [r.json().get("previous_response_id") for r in fake.requests] == [
        None,
        first.id,
        second.id,
    ]


def test_unknown_model_is_404_and_disallowed_model_is_403(
    client_for: Callable[[str], openai.OpenAI], fake: FakeOpenAIServer
) -> None:
    beta = client_for("beta")
    with pytest.raises(openai.NotFoundError) as missing:
        beta.responses.create(model="gpt-9-ultra", input="hi")
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.PermissionDeniedError) as denied:
        beta.responses.create(model="gpt-4.1", input="hi")
    assert denied.value.code == "model_not_allowed"
    assert denied.value.body["param"] == "model"  # type: ignore[index]
    assert fake.requests == []


def test_model_alias_is_rewritten_for_the_upstream(
    alpha: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    resp = alpha.responses.create(model="small", input="hello")
    assert fake.requests[0].json()["model"] == "gpt-4.1-mini"
    assert resp.model == "gpt-4.1-mini"


def test_upstream_openai_error_passes_through_with_status(
    alpha: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    from fake_openai import Fault

    fake.inject(Fault(path="/v1/responses", status=429, headers={"retry-after": "3"}))
    with pytest.raises(openai.RateLimitError) as err:
        alpha.responses.create(model="gpt-5-nano", input="hi")
    assert err.value.response.headers["retry-after"] == "3"
    assert err.value.code == "rate_limit_exceeded"
