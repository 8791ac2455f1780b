"""The Responses WebSocket mode: chained responses, nested errors that keep the socket,
steering, faults.
"""

from __future__ import annotations

import pytest
import websockets
from fake_clients import API_KEY, recv_response_ws, recv_response_ws_until, run, sdk

from fake_openai import FakeOpenAIServer, Fault


def test_responses_websocket_chains_two_responses_by_previous_response_id(
    fake: FakeOpenAIServer,
) -> None:
    async def scenario() -> None:
        async with sdk(fake).responses.connect() as conn:
            await conn.response.create(model="gpt-4.1", input="my name is Ada")
            first = await recv_response_ws_until(conn, "response.completed")
            first_id = first[0].response.id
            await conn.response.create(
                model="gpt-4.1", input="what is my name", previous_response_id=first_id
            )
            second = await recv_response_ws_until(conn, "response.completed")

        for events in (first, second):
            assert [e.type for e in events] == [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                *["response.output_text.delta"] * (len(events) - 8),
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
            assert [e.sequence_number for e in events] == list(range(len(events)))
        answer = first[-1].response.output_text
        assert answer == "Fake answer: my name is Ada"
        final = second[-1].response
        assert final.previous_response_id == first_id
        assert final.usage is not None
        # The HTTP fake's rule (a quarter of the bytes), over the chained context.
        context = ["my name is Ada", answer, "what is my name"]
        assert final.usage.input_tokens == sum(len(text) for text in context) // 4
        assert final.usage.input_tokens_details.cached_tokens == final.usage.input_tokens // 2

        async with sdk(fake) as client:
            stored = await client.responses.retrieve(final.id)
        assert stored.output_text == final.output_text

    run(scenario())
    upgrade = fake.requests[0]
    assert (upgrade.method, upgrade.path) == ("GET", "/v1/responses")
    assert upgrade.headers["authorization"] == f"Bearer {API_KEY}"
    sent = [event for _, event in fake.responses_ws_events]
    assert [event["type"] for event in sent] == ["response.create"] * 2
    assert "stream" not in sent[0]


def test_responses_websocket_errors_are_nested_and_keep_the_socket(
    fake: FakeOpenAIServer,
) -> None:
    async def scenario() -> None:
        async with sdk(fake).responses.connect() as conn:
            await conn.response.create(
                model="gpt-4.1", input="hi", previous_response_id="resp_missing"
            )
            error = await recv_response_ws(conn)
            await conn.response.create(model="gpt-4.1", input="hi")
            events = await recv_response_ws_until(conn, "response.completed")

        assert error.type == "error"
        assert error.status == 400
        assert error.error.type == "invalid_request_error"
        assert error.error.code == "previous_response_not_found"
        assert error.error.param == "previous_response_id"
        assert events[-1].response.output_text == "Fake answer: hi"

    run(scenario())


def test_responses_websocket_answers_a_steer_for_a_finished_response(
    fake: FakeOpenAIServer,
) -> None:
    async def scenario() -> None:
        async with sdk(fake).responses.connect() as conn:
            await conn.response.create(model="gpt-4.1", input="hi")
            done = (await recv_response_ws_until(conn, "response.completed"))[-1].response
            await conn.response.steer(previous_response_id=done.id, input="and more")
            failed = await recv_response_ws(conn)

        assert failed.type == "response.steer.failed"
        assert failed.error.code == "response_already_completed"

    run(scenario())


def test_responses_websocket_fault_taken_at_upgrade_scripts_the_first_answer(
    fake: FakeOpenAIServer,
) -> None:
    fake.inject(Fault(path="/v1/responses", output_text="Scripted over the socket."))

    async def scenario() -> None:
        async with sdk(fake).responses.connect() as conn:
            await conn.response.create(model="gpt-4.1", input="anything")
            first = await recv_response_ws_until(conn, "response.completed")
            await conn.response.create(model="gpt-4.1", input="anything")
            second = await recv_response_ws_until(conn, "response.completed")

        assert first[-1].response.output_text == "Scripted over the socket."
        assert second[-1].response.output_text == "Fake answer: anything"

    run(scenario())


def test_responses_websocket_drop_after_events_cuts_the_socket(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake).responses.connect() as conn:
            fake.inject(Fault(path="/v1/responses", drop_after_events=2))
            await conn.response.create(model="gpt-4.1", input="hello")
            received = [await recv_response_ws(conn) for _ in range(2)]
            with pytest.raises(websockets.exceptions.ConnectionClosedError) as closed:
                await recv_response_ws(conn)

        assert [e.type for e in received] == ["response.created", "response.in_progress"]
        assert closed.value.rcvd is None

    run(scenario())


def test_responses_websocket_generate_false_warms_up_without_output(
    fake: FakeOpenAIServer,
) -> None:
    """Codex's warm-up: the input is read and the response completes with no output (and no
    output tokens); the next turn chains to it, its context holding the warmed input only."""

    async def scenario() -> None:
        async with sdk(fake).responses.connect() as conn:
            await conn.response.create(
                model="gpt-4.1",
                input="a long shared prefix for the warm up",
                generate=False,
            )
            warm = await recv_response_ws_until(conn, "response.completed")
            await conn.response.create(
                model="gpt-4.1", input="now answer", previous_response_id=warm[-1].response.id
            )
            turn = await recv_response_ws_until(conn, "response.completed")

        assert [e.type for e in warm] == [
            "response.created",
            "response.in_progress",
            "response.completed",
        ]
        warmed = warm[-1].response
        assert warmed.output == []
        assert warmed.usage is not None
        assert (
            warmed.usage.output_tokens,
            warmed.usage.output_tokens_details.reasoning_tokens,
        ) == (0, 0)
        assert warmed.usage.input_tokens == len("a long shared prefix for the warm up") // 4
        answer = turn[-1].response
        assert answer.previous_response_id == warmed.id
        assert answer.output_text == "Fake answer: now answer"
        assert answer.usage is not None
        # The warmed input is the chained context (no answer of its own in it), seen before.
        context = ["a long shared prefix for the warm up", "now answer"]
        assert answer.usage.input_tokens == sum(len(text) for text in context) // 4
        assert answer.usage.input_tokens_details.cached_tokens == answer.usage.input_tokens // 2

    run(scenario())
    assert [event.get("generate") for _, event in fake.responses_ws_events] == [False, None]
