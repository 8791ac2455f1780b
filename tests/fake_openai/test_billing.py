"""The fake's record of what it would bill: one entry per call served, written when the usage
is produced (a JSON answer, a stream's usage-bearing event, a background response's
completion), nothing for a background response cancelled in the queue, and an entry marked
undelivered, with the planned usage, for a stream its client left before the usage came.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
from fake_clients import API_KEY
from poll import latest_sync

from fake_openai import Billed, FakeOpenAIServer, Fault

PROMPT = "Please write a few words about the sea and the wind and the sky " * 2


def only(fake: FakeOpenAIServer) -> Billed:
    (entry,) = fake.billed
    return entry


def test_a_json_response_is_billed_at_its_usage(
    client: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    response = client.responses.create(model="gpt-5-nano", input=PROMPT, service_tier="flex")
    assert response.usage is not None
    assert only(fake) == Billed(
        kind="responses",
        response_id=response.id,
        model="gpt-5-nano",
        service_tier="flex",
        input_tokens=response.usage.input_tokens,
        cached_tokens=response.usage.input_tokens_details.cached_tokens,
        output_tokens=response.usage.output_tokens,
    )


def test_cached_tokens_are_recorded_as_the_answer_reports_them(
    client: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    client.responses.create(model="gpt-4.1", input=PROMPT)
    second = client.responses.create(model="gpt-4.1", input=PROMPT)
    assert second.usage is not None
    assert second.usage.input_tokens_details.cached_tokens > 0
    entry = fake.billed[-1]
    assert (entry.response_id, entry.input_tokens, entry.cached_tokens) == (
        second.id,
        second.usage.input_tokens,
        second.usage.input_tokens_details.cached_tokens,
    )


def test_a_stream_read_to_its_end_is_billed_at_its_terminal_usage(
    client: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    with client.responses.stream(model="gpt-5-nano", input=PROMPT) as events:
        final = events.get_final_response()
    assert final.usage is not None
    entry = latest_sync(lambda: fake.billed, bool, 5)[0]
    assert (entry.response_id, entry.delivered, entry.background) == (final.id, True, False)
    assert (entry.input_tokens, entry.output_tokens) == (
        final.usage.input_tokens,
        final.usage.output_tokens,
    )


def test_chat_json_and_streamed_completions_are_billed(
    client: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "user", "content": PROMPT}
    ]
    answer = client.chat.completions.create(
        model="gpt-4.1-mini", messages=messages, service_tier="priority"
    )
    chunks = list(
        client.chat.completions.create(
            model="gpt-4.1-mini",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    usage = chunks[-1].usage
    assert answer.usage is not None
    assert usage is not None
    entries = latest_sync(lambda: fake.billed, lambda got: len(got) == 2, 5)
    assert entries[0] == Billed(
        kind="chat",
        response_id=answer.id,
        model="gpt-4.1-mini",
        service_tier="priority",
        input_tokens=answer.usage.prompt_tokens,
        cached_tokens=0,
        output_tokens=answer.usage.completion_tokens,
    )
    assert (entries[1].kind, entries[1].response_id, entries[1].delivered) == (
        "chat",
        chunks[0].id,
        True,
    )
    assert (entries[1].input_tokens, entries[1].output_tokens) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )


def test_a_background_response_is_billed_once_when_it_completes(
    client: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    queued = client.responses.create(model="gpt-5-nano", input=PROMPT, background=True)
    assert client.responses.retrieve(queued.id).status == "queued"
    assert fake.billed == [], "a queued response has used nothing yet"
    fake.finish_background(queued.id)
    fake.finish_background(queued.id)
    done = client.responses.retrieve(queued.id)
    assert done.usage is not None
    entry = only(fake)
    assert (entry.response_id, entry.background, entry.delivered) == (queued.id, True, True)
    assert (entry.input_tokens, entry.output_tokens) == (
        done.usage.input_tokens,
        done.usage.output_tokens,
    )


def test_a_background_response_cancelled_in_the_queue_bills_nothing(
    client: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    queued = client.responses.create(model="gpt-5-nano", input=PROMPT, background=True)
    assert client.responses.cancel(queued.id).status == "cancelled"
    fake.finish_background(queued.id)  # too late: it stays cancelled
    assert client.responses.retrieve(queued.id).status == "cancelled"
    assert fake.billed == []


def test_a_stream_cut_by_a_fault_is_recorded_undelivered(
    client: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(path="/v1/responses", drop_after_events=3))
    with (
        pytest.raises(openai.APIError),
        client.responses.stream(model="gpt-5-nano", input=PROMPT) as events,
    ):
        events.get_final_response()
    entry = latest_sync(lambda: fake.billed, bool, 5)[0]
    assert (entry.kind, entry.delivered) == ("responses", False)


def test_a_json_answer_cut_by_a_fault_is_recorded_undelivered(
    client: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(path="/v1/chat/completions", drop_after_events=0))
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(
            model="gpt-5-nano", messages=[{"role": "user", "content": PROMPT}]
        )
    entry = only(fake)
    assert (entry.kind, entry.delivered, entry.output_tokens > 0) == ("chat", False, True)


@pytest.fixture
def slow() -> Iterator[FakeOpenAIServer]:
    """Events 10 ms apart: the client can leave long before the end."""
    with FakeOpenAIServer(api_key=API_KEY, event_delay_s=0.01) as running:
        yield running


def _leave_after_first_bytes(fake: FakeOpenAIServer, path: str, body: dict[str, object]) -> None:
    with httpx.stream(
        "POST",
        f"{fake.base_url}{path}",
        json={**body, "stream": True},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=10,
    ) as resp:
        assert resp.status_code == 200
        for _ in resp.iter_bytes():
            break


@pytest.mark.parametrize(
    ("path", "body", "kind"),
    [
        ("/responses", {"model": "gpt-5-nano", "input": PROMPT}, "responses"),
        (
            "/chat/completions",
            {
                "model": "gpt-5-nano",
                "messages": [{"role": "user", "content": PROMPT}],
                "stream_options": {"include_usage": True},
            },
            "chat",
        ),
    ],
    ids=["responses", "chat"],
)
def test_a_stream_its_client_leaves_is_recorded_undelivered_with_its_plan(
    slow: FakeOpenAIServer, path: str, body: dict[str, object], kind: str
) -> None:
    _leave_after_first_bytes(slow, path, body)
    (left,) = latest_sync(lambda: slow.billed, bool, 5)
    assert (left.kind, left.delivered) == (kind, False)
    # The plan is the answer the same request gets when it is read whole.
    client = openai.OpenAI(base_url=slow.base_url, api_key=API_KEY, max_retries=0)
    if kind == "responses":
        usage = client.responses.create(model="gpt-5-nano", input=PROMPT).usage
        assert usage is not None
        whole = (usage.input_tokens, usage.output_tokens)
    else:
        chat = client.chat.completions.create(
            model="gpt-5-nano", messages=[{"role": "user", "content": PROMPT}]
        )
        assert chat.usage is not None
        whole = (chat.usage.prompt_tokens, chat.usage.completion_tokens)
    assert (left.input_tokens, left.output_tokens) == whole
    assert left.output_tokens > 0


def test_a_background_stream_its_client_leaves_is_billed_in_full(
    slow: FakeOpenAIServer,
) -> None:
    _leave_after_first_bytes(
        slow, "/responses", {"model": "gpt-5-nano", "input": PROMPT, "background": True}
    )
    (entry,) = latest_sync(lambda: slow.billed, bool, 5)
    assert (entry.background, entry.delivered) == (True, True), "it runs on upstream"
    client = openai.OpenAI(base_url=slow.base_url, api_key=API_KEY, max_retries=0)
    done = client.responses.retrieve(entry.response_id)
    assert done.usage is not None
    assert (done.status, entry.output_tokens) == ("completed", done.usage.output_tokens)


def test_clear_forgets_the_record(client: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    client.responses.create(model="gpt-5-nano", input=PROMPT)
    assert len(fake.billed) == 1
    fake.clear()
    assert fake.billed == []
