"""Injected faults over HTTP (statuses, raw bodies, dropped and stalled connections, delays)
as the official SDK sees them, and what a ``Fault`` accepts.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import openai
import pytest

from fake_openai import FakeOpenAIServer, Fault


def drain(stream: Iterable[Any], sink: list[Any]) -> None:
    """Consume a stream into ``sink`` so a test can still see what arrived before it failed."""
    for event in stream:
        sink.append(event)


def test_fault_status_with_retry_after_is_recorded_and_consumed(
    client: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(path="/v1/chat/completions", status=503))
    fake.inject(Fault(path="/v1/responses", status=429, headers={"Retry-After": "7"}))
    # The chat fault is queued first but must not fire on a Responses call.
    with pytest.raises(openai.RateLimitError) as caught:
        client.responses.create(model="gpt-4o", input="throttled")
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.type == "requests"
    assert caught.value.response.headers["x-request-id"].startswith("req_")
    assert fake.requests[-1].json()["input"] == "throttled"

    assert client.responses.create(model="gpt-4o", input="fine now").status == "completed"
    with pytest.raises(openai.InternalServerError) as server_error:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert server_error.value.type == "server_error"


def test_fault_raw_body(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(status=502, body=b"<html>Bad Gateway</html>"))
    with pytest.raises(openai.InternalServerError) as caught:
        client.models.list()
    assert caught.value.status_code == 502
    assert caught.value.response.text == "<html>Bad Gateway</html>"


def test_fault_drop_connection(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(path="/v1/responses", drop_connection=True))
    with pytest.raises(openai.APIConnectionError):
        client.responses.create(model="gpt-4o", input="lost")
    assert len(fake.requests) == 1
    assert client.responses.create(model="gpt-4o", input="back").status == "completed"


def test_fault_drop_after_events_mid_stream(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(drop_after_events=4))
    received: list[Any] = []
    stream = client.responses.create(model="gpt-4o", input="cut me off", stream=True)
    with pytest.raises(openai.APIConnectionError):
        drain(stream, received)
    assert len(received) == 4
    assert "response.completed" not in [event.type for event in received]
    # The response was stored before streaming, so a gateway can settle usage with GET.
    assert received[0].type == "response.created"
    settled = client.responses.retrieve(received[0].response.id)
    assert settled.status == "completed"
    assert settled.usage is not None


def test_fault_drop_after_events_chat_and_non_stream(
    client: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(path="/v1/chat/completions", drop_after_events=2))
    chunks: list[Any] = []
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "a b c"}], stream=True
    )
    with pytest.raises(openai.APIConnectionError):
        drain(stream, chunks)
    assert len(chunks) == 2

    fake.inject(Fault(drop_after_events=0))
    with pytest.raises(openai.APIConnectionError):
        client.responses.create(model="gpt-4o", input="not streamed")


def test_fault_stall_after_events(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(stall_after_events=2))
    received: list[Any] = []
    started = time.monotonic()
    stream = client.with_options(timeout=0.3).responses.create(
        model="gpt-4o", input="hang", stream=True
    )
    with pytest.raises(openai.APITimeoutError):
        drain(stream, received)
    assert [event.type for event in received] == ["response.created", "response.in_progress"]
    assert time.monotonic() - started < 2


def test_fault_delay(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(delay_s=0.25))
    started = time.monotonic()
    assert client.models.list().data
    assert time.monotonic() - started >= 0.25

    fake.inject(Fault(delay_s=0.5))
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.1).models.list()


def test_event_delay_paces_stream() -> None:
    with FakeOpenAIServer(event_delay_s=0.02) as slow:
        client = openai.OpenAI(base_url=slow.base_url, api_key="unused", max_retries=0)
        stamps = [
            time.monotonic()
            for _ in client.responses.create(model="gpt-4o", input="a b", stream=True)
        ]
        # A client hanging up mid-stream must not break the server for the next caller.
        with client.responses.with_streaming_response.create(
            model="gpt-4o", input="a b c d e f", stream=True
        ) as raw:
            assert next(raw.iter_lines()) == "event: response.created"
        assert client.models.list().data
    # 12 events (4 of them deltas), so at least 11 pauses between the first and the last.
    assert len(stamps) == 12
    assert stamps[-1] - stamps[0] >= 11 * 0.02 * 0.9


def test_fault_answer_validation() -> None:
    with pytest.raises(ValueError, match="only one of output_text, refusal"):
        Fault(output_text="a", refusal="b")
    with pytest.raises(ValueError, match="function_call"):
        Fault(function_call=("", "{}"))
    with pytest.raises(ValueError, match="function_call"):
        Fault(function_call=("f",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="model"):
        Fault(model="")
    assert Fault(model="gpt-5").matches("/v1/responses", "gpt-5")
    assert not Fault(model="gpt-5").matches("/v1/responses", "gpt-5-mini")
    assert not Fault(model="gpt-5").matches("/v1/models")


def test_fault_body_contains_waits_for_the_request_that_says_it(
    client: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(body_contains="Reply again", output_text='{"ok": true}'))
    assert client.responses.create(model="gpt-4o", input="first").output_text != '{"ok": true}'
    again = client.responses.create(model="gpt-4o", input="Reply again, please")
    assert again.output_text == '{"ok": true}'
    assert client.responses.create(model="gpt-4o", input="Reply again").output_text != (
        '{"ok": true}'
    ), "consumed by the request that matched"
