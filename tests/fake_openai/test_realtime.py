"""Drive the fake's Realtime, WebRTC-call, client-secret and Responses-WebSocket endpoints with
the official SDK, so the fake is held to the wire the SDK speaks.

Every event a test receives is also validated strictly against the SDK's own pydantic type for
its ``type`` (the SDK itself parses without validating) and checked for fields the SDK does not
declare, so a misspelt or misplaced field fails here rather than in a gateway test.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar, get_args

import openai
import pytest
import websockets
from openai.types.realtime import RealtimeServerEvent
from openai.types.responses import ResponsesServerEvent
from pydantic import BaseModel
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus

from fake_openai import FakeOpenAIServer, Fault, pcm16_silence

API_KEY = "sk-fake-realtime-0123456789abcdef"
MODEL = "gpt-realtime"
OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"

TEXT_SETUP = [
    "response.created",
    "rate_limits.updated",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
]
TEXT_TEARDOWN = [
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "conversation.item.done",
    "response.done",
]


def tokens(text: str) -> int:
    """The fake's documented Realtime text rule: a quarter of the characters, rounded up."""
    return math.ceil(len(text) / 4)


def audio_tokens(seconds: float) -> int:
    """The documented input audio rule: 10 tokens a second, rounded up."""
    return math.ceil(seconds * 10)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


T = TypeVar("T")


def run(scenario: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(scenario, timeout=20))


# --------------------------------------------------------------------------- strict SDK shapes


def _classes_by_type(union: Any) -> dict[str, type[BaseModel]]:
    members, *_ = get_args(union)  # Annotated[Union[...], PropertyInfo]
    classes: dict[str, type[BaseModel]] = {}
    for cls in get_args(members):
        (name,) = get_args(cls.model_fields["type"].annotation)
        classes[name] = cls
    return classes


REALTIME_TYPES = _classes_by_type(RealtimeServerEvent)
RESPONSES_TYPES = _classes_by_type(ResponsesServerEvent)

# Fields the wire carries that the SDK's 3.57 types leave undeclared.
KNOWN_EXTRAS = {".session.id", ".session.object", ".session.expires_at"}
KNOWN_RESPONSES_EXTRAS = {".response.store", ".obfuscation"}


def undeclared(value: Any, path: str = "") -> set[str]:
    """Paths of fields present in ``value`` that its SDK type does not declare."""
    if isinstance(value, BaseModel):
        found = {f"{path}.{name}" for name in value.model_extra or {}}
        for name in type(value).model_fields:
            found |= undeclared(getattr(value, name), f"{path}.{name}")
        return found
    if isinstance(value, list):
        return set().union(*(undeclared(entry, path) for entry in value))
    return set()


def check_shape(raw: bytes, classes: dict[str, type[BaseModel]], allowed: set[str]) -> None:
    data = json.loads(raw)
    model = classes[data["type"]].model_validate(data)
    extras = undeclared(model) - allowed
    assert not extras, f"{data['type']} carries fields the SDK does not declare: {extras}"


async def recv(conn: Any) -> Any:
    """The next Realtime event, strictly checked, parsed by the SDK."""
    raw = await conn.recv_bytes()
    check_shape(raw, REALTIME_TYPES, KNOWN_EXTRAS)
    return conn.parse_event(raw)


async def recv_until(conn: Any, last: str) -> list[Any]:
    events = [await recv(conn)]
    while events[-1].type != last:
        events.append(await recv(conn))
    return events


async def recv_response_ws(conn: Any) -> Any:
    raw = await conn.recv_bytes()
    check_shape(raw, RESPONSES_TYPES, KNOWN_RESPONSES_EXTRAS)
    return conn.parse_event(raw)


async def recv_response_ws_until(conn: Any, *last: str) -> list[Any]:
    events = [await recv_response_ws(conn)]
    while events[-1].type not in last:
        events.append(await recv_response_ws(conn))
    return events


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key=API_KEY) as running:
        yield running


@pytest.fixture
def fake(server: FakeOpenAIServer) -> FakeOpenAIServer:
    server.clear()
    return server


def sdk(fake: FakeOpenAIServer, key: str = API_KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.base_url, api_key=key, max_retries=0, timeout=5.0)


def ws_base(fake: FakeOpenAIServer) -> str:
    return fake.base_url.replace("http://", "ws://", 1)


async def text_session(conn: Any, **session: Any) -> None:
    """Consume ``session.created`` and switch the session to text answers."""
    assert (await recv(conn)).type == "session.created"
    await conn.session.update(
        session={"type": "realtime", "output_modalities": ["text"], **session}
    )
    assert (await recv(conn)).type == "session.updated"


async def say(conn: Any, text: str, audio: bytes | None = None) -> str:
    """Add a user message; returns its item id once the fake has confirmed it."""
    content: list[dict[str, Any]] = [{"type": "input_text", "text": text}]
    if audio is not None:
        content.append({"type": "input_audio", "audio": b64(audio)})
    await conn.conversation.item.create(
        item={"type": "message", "role": "user", "content": content}
    )
    added, done = await recv(conn), await recv(conn)
    assert (added.type, done.type) == ("conversation.item.added", "conversation.item.done")
    return str(added.item.id)


# --------------------------------------------------------------------------- Realtime sessions


def test_session_created_is_a_ga_realtime_session(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            raw = json.loads(await conn.recv_bytes())
        assert raw["type"] == "session.created"
        assert raw["event_id"].startswith("event_")
        session = raw["session"]
        assert session["type"] == "realtime"
        assert session["object"] == "realtime.session"
        assert session["id"].startswith("sess_")
        assert session["model"] == MODEL
        assert session["output_modalities"] == ["audio"]
        assert session["max_output_tokens"] == "inf"
        assert session["instructions"] == ""
        pcm = {"type": "audio/pcm", "rate": 24000}
        assert session["audio"]["input"]["format"] == pcm
        assert session["audio"]["output"]["format"] == pcm
        assert session["audio"]["input"]["turn_detection"] is None
        assert time.time() < session["expires_at"] <= time.time() + 3600

    run(scenario())
    (upgrade,) = fake.requests
    assert (upgrade.method, upgrade.path, upgrade.query) == (
        "GET",
        "/v1/realtime",
        {"model": MODEL},
    )
    assert upgrade.headers["authorization"] == f"Bearer {API_KEY}"


def test_text_turn_streams_word_deltas_and_bills_as_documented(fake: FakeOpenAIServer) -> None:
    instructions, prompt = "Be brief.", "Tell me about lighthouses"

    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            await text_session(conn, instructions=instructions)
            await say(conn, prompt)
            await conn.response.create()
            events = await recv_until(conn, "response.done")

        words = ["Fake", " answer:", " Tell", " me", " about", " lighthouses"]
        assert [e.type for e in events] == [
            *TEXT_SETUP,
            *["response.output_text.delta"] * len(words),
            *TEXT_TEARDOWN,
        ]
        assert [e.delta for e in events if e.type == "response.output_text.delta"] == words
        created, done = events[0], events[-1]
        assert created.response.status == "in_progress"
        assert created.response.usage is None
        assert done.response.id == created.response.id
        assert done.response.object == "realtime.response"
        assert done.response.status == "completed"
        assert done.response.output_modalities == ["text"]
        assert done.response.conversation_id is not None
        (item,) = done.response.output
        assert item.role == "assistant"
        assert item.content[0].type == "output_text"
        assert item.content[0].text == "Fake answer: Tell me about lighthouses"

        usage = done.response.usage
        assert usage.input_token_details.text_tokens == tokens(instructions) + tokens(prompt)
        assert (usage.input_token_details.audio_tokens, usage.input_tokens) == (0, 10)
        assert usage.input_token_details.cached_tokens == 0
        assert usage.output_token_details.text_tokens == len(words)
        assert usage.output_token_details.audio_tokens == 0
        assert (usage.output_tokens, usage.total_tokens) == (6, 16)

    run(scenario())
    session_ids = {session_id for session_id, _ in fake.realtime_events}
    assert len(session_ids) == 1
    assert [event["type"] for _, event in fake.realtime_events] == [
        "session.update",
        "conversation.item.create",
        "response.create",
    ]


def test_audio_turn_bills_committed_input_audio_and_generated_audio(
    fake: FakeOpenAIServer,
) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            assert (await recv(conn)).type == "session.created"
            for _ in range(2):
                await conn.input_audio_buffer.append(audio=b64(pcm16_silence(0.75)))
            await conn.input_audio_buffer.commit()
            committed, added, done = await recv(conn), await recv(conn), await recv(conn)
            assert committed.type == "input_audio_buffer.committed"
            assert (added.type, done.type) == ("conversation.item.added", "conversation.item.done")
            assert added.item.id == committed.item_id
            assert added.item.content[0].type == "input_audio"
            assert added.item.content[0].audio is None, "audio bytes are never echoed"

            await conn.response.create()
            events = await recv_until(conn, "response.done")

        pair = ["response.output_audio_transcript.delta", "response.output_audio.delta"]
        assert [e.type for e in events] == [
            *TEXT_SETUP,
            *pair * 2,
            "response.output_audio.done",
            "response.output_audio_transcript.done",
            "response.content_part.done",
            "response.output_item.done",
            "conversation.item.done",
            "response.done",
        ]
        assert events[4].part.type == "audio"
        chunks = [base64.b64decode(e.delta) for e in events if e.type == pair[1]]
        assert chunks == [bytes(4800)] * 2, "0.1 s of PCM16 silence per word"
        transcript = [e for e in events if e.type == "response.output_audio_transcript.done"]
        assert transcript[0].transcript == "Fake answer:"
        done_item = events[-1].response.output[0]
        assert done_item.content[0].type == "output_audio"
        assert done_item.content[0].transcript == "Fake answer:"

        usage = events[-1].response.usage
        assert usage.input_token_details.audio_tokens == audio_tokens(1.5) == 15
        assert usage.input_token_details.text_tokens == 0
        assert usage.output_token_details.text_tokens == 2
        assert usage.output_token_details.audio_tokens == 4, "20 tokens a second of output"
        assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (15, 6, 21)

    run(scenario())


def test_second_turn_reports_the_first_turns_input_as_cached_text_and_audio(
    fake: FakeOpenAIServer,
) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            await text_session(conn)
            await say(conn, "first question", pcm16_silence(1.0))
            await conn.response.create()
            first = (await recv_until(conn, "response.done"))[-1].response
            await say(conn, "second one")
            await conn.response.create()
            second = (await recv_until(conn, "response.done"))[-1].response

        assert first.usage.input_token_details.cached_tokens == 0
        assert first.usage.input_token_details.text_tokens == tokens("first question")
        assert first.usage.input_token_details.audio_tokens == audio_tokens(1.0)

        answer = first.output[0].content[0].text
        assert answer == "Fake answer: first question"
        details = second.usage.input_token_details
        assert details.text_tokens == tokens("first question") + tokens(answer) + tokens(
            "second one"
        )
        assert details.audio_tokens == audio_tokens(1.0)
        assert details.cached_tokens_details.text_tokens == tokens("first question")
        assert details.cached_tokens_details.audio_tokens == audio_tokens(1.0)
        assert details.cached_tokens_details.image_tokens == 0
        assert details.cached_tokens == tokens("first question") + audio_tokens(1.0)
        assert second.usage.input_tokens == details.text_tokens + details.audio_tokens

    run(scenario())


@pytest.mark.parametrize(
    ("modality", "cap_on", "cap", "words", "audio_out"),
    [("text", "session", 3, 3, 0), ("audio", "response", 7, 2, 4)],
)
def test_max_output_tokens_stops_the_answer_and_ends_incomplete(
    fake: FakeOpenAIServer, modality: str, cap_on: str, cap: int, words: int, audio_out: int
) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            assert (await recv(conn)).type == "session.created"
            session: dict[str, Any] = {"type": "realtime", "output_modalities": [modality]}
            if cap_on == "session":
                session["max_output_tokens"] = cap
            await conn.session.update(session=session)
            assert (await recv(conn)).type == "session.updated"
            await say(conn, "one two three four five")
            overrides = {"max_output_tokens": cap} if cap_on == "response" else {}
            await conn.response.create(response=overrides)
            done = (await recv_until(conn, "response.done"))[-1].response

        assert done.status == "incomplete"
        assert done.status_details.type == "incomplete"
        assert done.status_details.reason == "max_output_tokens"
        assert done.max_output_tokens == cap
        assert done.output[0].status == "incomplete"
        assert done.usage.output_token_details.text_tokens == words
        assert done.usage.output_token_details.audio_tokens == audio_out
        assert done.usage.output_tokens == words + audio_out <= cap

    run(scenario())


def test_out_of_band_response_stays_out_of_the_conversation(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            await text_session(conn)
            await say(conn, "summarise this call")
            await conn.response.create(
                response={"conversation": "none", "metadata": {"purpose": "summary"}}
            )
            side = await recv_until(conn, "response.done")
            await conn.response.create()
            main = (await recv_until(conn, "response.done"))[-1].response

        assert not [e for e in side if e.type.startswith("conversation.item")]
        assert side[-1].response.conversation_id is None
        assert side[-1].response.metadata == {"purpose": "summary"}
        # The next turn's prompt is the user message alone: the side answer never joined it.
        assert main.usage.input_tokens == tokens("summarise this call")
        assert main.usage.input_token_details.cached_tokens == main.usage.input_tokens

    run(scenario())


def test_response_input_replaces_the_conversation_as_the_prompt(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            await text_session(conn)
            kept = await say(conn, "alpha beta")
            await say(conn, "gamma")
            extra = {"type": "input_text", "text": "delta epsilon"}
            await conn.response.create(
                response={
                    "conversation": "none",
                    "instructions": "Answer briefly.",
                    "input": [
                        {"type": "item_reference", "id": kept},
                        {"type": "message", "role": "user", "content": [extra]},
                    ],
                }
            )
            done = (await recv_until(conn, "response.done"))[-1].response

        assert done.output[0].content[0].text == "Fake answer: delta epsilon"
        assert done.usage.input_tokens == (
            tokens("Answer briefly.") + tokens("alpha beta") + tokens("delta epsilon")
        )

    run(scenario())


def test_items_can_be_retrieved_and_deleted_from_the_conversation(
    fake: FakeOpenAIServer,
) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            await text_session(conn)
            item_id = await say(conn, "forget me")
            await conn.conversation.item.retrieve(item_id=item_id)
            retrieved = await recv(conn)
            await conn.conversation.item.delete(item_id=item_id)
            deleted = await recv(conn)
            await conn.conversation.item.retrieve(item_id=item_id)
            missing = await recv(conn)
            await conn.response.create()
            done = (await recv_until(conn, "response.done"))[-1].response

        assert retrieved.type == "conversation.item.retrieved"
        assert retrieved.item.content[0].text == "forget me"
        assert (deleted.type, deleted.item_id) == ("conversation.item.deleted", item_id)
        assert (missing.type, missing.error.code) == ("error", "item_not_found")
        assert done.usage.input_tokens == 0

    run(scenario())


def test_response_cancel_ends_the_active_response_cancelled(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            await text_session(conn)
            await say(conn, "a b c d")
            # The response pauses after its first delta until the cancel arrives.
            fake.inject(Fault(path="/v1/realtime", stall_after_events=6))
            await conn.response.create()
            started = [await recv(conn) for _ in range(6)]
            assert [e.type for e in started] == [*TEXT_SETUP, "response.output_text.delta"]
            await conn.response.cancel()
            rest = await recv_until(conn, "response.done")

        assert [e.type for e in rest] == TEXT_TEARDOWN
        assert rest[0].text == "Fake"
        done = rest[-1].response
        assert done.status == "cancelled"
        assert done.status_details.reason == "client_cancelled"
        assert done.output[0].status == "incomplete"
        assert done.usage.output_tokens == 1
        assert done.usage.input_tokens == tokens("a b c d")

    run(scenario())


def test_response_cancel_without_an_active_response_is_an_error(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            assert (await recv(conn)).type == "session.created"
            await conn.response.cancel(event_id="evt_cancel_1")
            error = await recv(conn)

        assert error.type == "error"
        assert error.error.code == "response_cancel_not_active"
        assert error.error.event_id == "evt_cancel_1"

    run(scenario())


def test_drop_after_events_cuts_the_socket_without_a_close_frame(
    fake: FakeOpenAIServer,
) -> None:
    fake.inject(Fault(path="/v1/realtime", drop_after_events=3))

    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            await text_session(conn)
            await say(conn, "hello")
            await conn.response.create()
            received = [await recv(conn) for _ in range(3)]
            with pytest.raises(ConnectionClosedError) as closed:
                await recv(conn)

        assert [e.type for e in received] == TEXT_SETUP[:3]
        assert closed.value.rcvd is None, "no close frame: the client sees 1006"

    run(scenario())


def test_clear_empties_the_input_buffer_so_a_commit_is_refused(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            assert (await recv(conn)).type == "session.created"
            await conn.input_audio_buffer.append(audio=b64(pcm16_silence(0.5)))
            await conn.input_audio_buffer.clear()
            assert (await recv(conn)).type == "input_audio_buffer.cleared"
            await conn.input_audio_buffer.commit()
            error = await recv(conn)

        assert error.type == "error"
        assert error.error.code == "input_audio_buffer_commit_empty"

    run(scenario())


def test_unknown_event_gets_an_error_event_and_the_session_goes_on(
    fake: FakeOpenAIServer,
) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            assert (await recv(conn)).type == "session.created"
            await conn.send_raw(json.dumps({"type": "bogus.event", "event_id": "evt_client_1"}))
            raw = json.loads(await conn.recv_bytes())
            await conn.session.update(session={"type": "realtime", "instructions": "still here"})
            updated = await recv(conn)

        check_shape(json.dumps(raw).encode(), REALTIME_TYPES, KNOWN_EXTRAS)
        assert raw["type"] == "error"
        assert raw["event_id"].startswith("event_")
        error = raw["error"]
        assert (error["type"], error["code"]) == ("invalid_request_error", "unknown_event")
        assert (error["param"], error["event_id"]) == (None, "evt_client_1")
        assert "bogus.event" in error["message"]
        assert updated.session.instructions == "still here"

    run(scenario())


def test_malformed_json_gets_an_error_event_and_is_not_recorded(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            assert (await recv(conn)).type == "session.created"
            await conn.send_raw("{not json")
            error = await recv(conn)

        assert error.type == "error"
        assert error.error.code == "invalid_json"
        assert error.error.event_id is None

    run(scenario())
    assert fake.realtime_events == []


def test_session_update_requires_the_session_type(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL) as conn:
            assert (await recv(conn)).type == "session.created"
            await conn.send_raw(json.dumps({"type": "session.update", "session": {}}))
            error = await recv(conn)

        assert error.error.code == "missing_required_parameter"
        assert error.error.param == "session.type"

    run(scenario())


# --------------------------------------------------------------------------- refusals


def refusal(scenario: Coroutine[Any, Any, None]) -> tuple[int, dict[str, Any]]:
    """Run a connect that must be refused; the HTTP status and the OpenAI error object."""
    with pytest.raises(InvalidStatus) as refused:
        run(scenario)
    response = refused.value.response
    return response.status_code, json.loads(response.body or b"{}")["error"]


def test_wrong_key_is_refused_with_401_before_the_upgrade(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake, "sk-wrong-key-0000000000").realtime.connect(model=MODEL):
            pass

    status, error = refusal(scenario())
    assert status == 401
    assert error["code"] == "invalid_api_key"
    assert "sk-wrong" not in error["message"].replace("sk-*****", "")


def test_missing_model_is_refused_with_400(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect():
            pass

    status, error = refusal(scenario())
    assert (status, error["param"], error["code"]) == (400, "model", "missing_required_parameter")


def test_fault_status_refuses_the_upgrade(fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(path="/v1/realtime", status=429, headers={"retry-after": "2"}))

    async def scenario() -> None:
        async with sdk(fake).realtime.connect(model=MODEL):
            pass

    status, error = refusal(scenario())
    assert (status, error["code"]) == (429, "rate_limit_exceeded")


def test_browser_subprotocol_key_is_accepted_and_realtime_is_echoed(
    fake: FakeOpenAIServer,
) -> None:
    async def scenario() -> None:
        async with ws_connect(
            f"{ws_base(fake)}/realtime?model={MODEL}",
            subprotocols=["realtime", f"openai-insecure-api-key.{API_KEY}"],
        ) as ws:
            assert ws.subprotocol == "realtime"
            assert json.loads(await ws.recv())["type"] == "session.created"

    run(scenario())
    (upgrade,) = fake.requests
    assert "authorization" not in upgrade.headers


def test_wrong_subprotocol_key_is_refused(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with ws_connect(
            f"{ws_base(fake)}/realtime?model={MODEL}",
            subprotocols=["realtime", "openai-insecure-api-key.sk-nope-000000"],
        ):
            pass

    status, error = refusal(scenario())
    assert (status, error["code"]) == (401, "invalid_api_key")


# --------------------------------------------------------------------------- client secrets


def test_client_secret_is_minted_and_opens_a_session_with_its_config(
    fake: FakeOpenAIServer,
) -> None:
    async def scenario() -> None:
        async with sdk(fake) as client:
            secret = await client.realtime.client_secrets.create(
                expires_after={"anchor": "created_at", "seconds": 600},
                session={
                    "type": "realtime",
                    "model": MODEL,
                    "instructions": "Speak like a pirate.",
                },
            )
        assert secret.value.startswith("ek_")
        assert time.time() + 590 < secret.expires_at <= time.time() + 600
        assert secret.session.type == "realtime"
        assert secret.session.object == "realtime.session"
        assert secret.session.id.startswith("sess_")
        assert secret.session.instructions == "Speak like a pirate."

        async with sdk(fake, secret.value).realtime.connect(model=MODEL) as conn:
            created = await recv(conn)
        assert created.session.instructions == "Speak like a pirate."

    run(scenario())
    assert fake.requests[-1].headers["authorization"].startswith("Bearer ek_")


def test_client_secret_is_not_an_api_key_elsewhere(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake) as client:
            secret = await client.realtime.client_secrets.create(session={"type": "realtime"})
            with pytest.raises(openai.BadRequestError) as too_short:
                await client.realtime.client_secrets.create(
                    expires_after={"anchor": "created_at", "seconds": 5}
                )
        async with sdk(fake, secret.value) as browser:
            with pytest.raises(openai.AuthenticationError):
                await browser.responses.create(model="gpt-4o", input="hi")
        assert too_short.value.param == "expires_after.seconds"

    run(scenario())


# --------------------------------------------------------------------------- WebRTC calls


def test_call_with_multipart_session_and_sideband_response_from_call_respond(
    fake: FakeOpenAIServer,
) -> None:
    async def scenario() -> str:
        async with sdk(fake) as client:
            raw = await client.realtime.calls.with_raw_response.create(
                sdp=OFFER,
                session={
                    "type": "realtime",
                    "model": MODEL,
                    "instructions": "Be kind.",
                    "output_modalities": ["text"],
                },
            )
            assert raw.status_code == 201
            assert raw.headers["content-type"] == "application/sdp"
            assert raw.http_response.text.startswith("v=0\r\n")
            location = raw.headers["location"]
            assert location.startswith("/v1/realtime/calls/rtc_")
            call_id = location.rsplit("/", 1)[1]

            async with client.realtime.connect(call_id=call_id) as conn:
                created = await recv(conn)
                assert created.session.instructions == "Be kind."
                response_id = fake.call_respond(
                    call_id, "I need help with my bill", audio_seconds=2
                )
                events = await recv_until(conn, "response.done")

        assert [e.type for e in events[:5]] == [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
        ]
        assert events[1].audio_end_ms == 2000
        assert events[3].item.content[0].transcript == "I need help with my bill"
        assert events[5].type == "response.created"
        done = events[-1].response
        assert done.id == response_id
        assert done.output[0].content[0].text == "Fake answer: I need help with my bill"
        assert done.usage.input_token_details.text_tokens == tokens("Be kind.")
        assert done.usage.input_token_details.audio_tokens == audio_tokens(2.0)
        assert done.usage.output_tokens == 8
        return call_id

    call_id = run(scenario())
    create = next(r for r in fake.requests if r.path == "/v1/realtime/calls")
    assert create.headers["content-type"].startswith("multipart/form-data; boundary=")
    sideband = next(r for r in fake.requests if r.path == "/v1/realtime")
    assert sideband.query == {"call_id": call_id}
    assert sideband.headers["authorization"] == f"Bearer {API_KEY}"


def test_call_with_raw_sdp_and_an_ephemeral_key(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake) as client:
            secret = await client.realtime.client_secrets.create(
                session={"type": "realtime", "model": MODEL}
            )
        async with sdk(fake, secret.value) as browser:
            raw = await browser.realtime.calls.with_raw_response.create(sdp=OFFER)
            assert raw.status_code == 201
            call_id = raw.headers["location"].rsplit("/", 1)[1]
            # The sideband wants the standard key; an ephemeral one finds no call.
            with pytest.raises(InvalidStatus) as refused:
                async with browser.realtime.connect(call_id=call_id):
                    pass
        assert refused.value.response.status_code == 404
        async with sdk(fake).realtime.connect(call_id=call_id) as conn:
            assert (await recv(conn)).session.model == MODEL

    run(scenario())
    create = next(r for r in fake.requests if r.path == "/v1/realtime/calls")
    assert create.headers["content-type"] == "application/sdp"
    assert create.headers["authorization"].startswith("Bearer ek_")
    assert create.body.decode() == OFFER


def test_hangup_closes_the_sideband_normally_and_is_recorded(fake: FakeOpenAIServer) -> None:
    async def scenario() -> str:
        async with sdk(fake) as client:
            raw = await client.realtime.calls.with_raw_response.create(sdp=OFFER)
            call_id = raw.headers["location"].rsplit("/", 1)[1]
            async with client.realtime.connect(call_id=call_id) as conn:
                assert (await recv(conn)).type == "session.created"
                await client.realtime.calls.hangup(call_id)
                with pytest.raises(ConnectionClosedOK) as closed:
                    await recv(conn)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1000

            with pytest.raises(InvalidStatus) as gone:
                async with client.realtime.connect(call_id=call_id):
                    pass
            assert gone.value.response.status_code == 404
            with pytest.raises(openai.NotFoundError):
                await client.realtime.calls.hangup(call_id)
        return call_id

    call_id = run(scenario())
    assert fake.hung_up == {call_id}


def test_accept_configures_the_call_and_reject_ends_it(fake: FakeOpenAIServer) -> None:
    async def scenario() -> str:
        async with sdk(fake) as client:
            raw = await client.realtime.calls.with_raw_response.create(sdp=OFFER)
            call_id = raw.headers["location"].rsplit("/", 1)[1]
            await client.realtime.calls.accept(call_id, type="realtime", instructions="Hi caller")
            async with client.realtime.connect(call_id=call_id) as conn:
                assert (await recv(conn)).session.instructions == "Hi caller"
                await client.realtime.calls.reject(call_id)
                with pytest.raises(ConnectionClosedOK):
                    await recv(conn)
        return call_id

    call_id = run(scenario())
    assert fake.hung_up == set(), "a rejected call was not hung up"
    with pytest.raises(KeyError):
        fake.call_respond(call_id, "anyone there?")


def test_sideband_for_an_unknown_call_is_404_call_id_not_found(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(call_id="rtc_0000"):
            pass

    status, error = refusal(scenario())
    assert (status, error["code"]) == (404, "call_id_not_found")


# --------------------------------------------------------------------------- Responses socket


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
