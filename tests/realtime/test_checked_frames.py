"""Realtime frames that used to skip the checks, through the SDK against the gateway and the
fake upstream: binary frames, a session.update naming another model, input-audio
transcription, and responses started by voice activity (issue 15, class 5)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from harness import GatewayServer, config_dict, ledger_row, ledger_rows, merged
from poll import latest_sync

from fake_openai import FakeOpenAIServer, pcm16_silence

# gpt-realtime with a 2000-token window (the harness's) and a cap of 100: the bound is the
# window at the audio input price plus the cap at the audio output price.
BOUND_CAP_100 = 2000 * 32_000 + 100 * 64_000  # 70.4 M nano-USD, $0.0704
TENANTS = {
    "rt": {"models": ["*"], "max_output_tokens": 1000},
    "rt-no-mcp": {"models": ["*"], "tools": ["file_search"]},
    "rt-only": {"models": ["gpt-realtime"]},
    # One bound fits, two do not; one bound and a 3-second voice turn do not either.
    "rt-voice": {"models": ["*"], "max_output_tokens": 100, "budgets": {"daily_usd": 0.071}},
}
MODELS = {"gpt-realtime-mini": {"context_window": 2000}, "asr-unpriced": {}}
ONE_SECOND = base64.b64encode(pcm16_silence(1.0)).decode()
THREE_SECONDS = base64.b64encode(pcm16_silence(3.0)).decode()
UNCAPPED = {"max_output_tokens": "inf"}


@pytest.fixture(scope="module")
def gw(
    fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    db = tmp_path_factory.mktemp("rt-checks") / "gateway.db"
    config = merged(config_dict(fake_server.base_url, tenants=TENANTS), {"models": MODELS})
    with GatewayServer(config, database_url=f"sqlite:///{db}") as g:
        yield g


def client(gw: GatewayServer, tenant: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.base_url, api_key=gw.token(tenant), max_retries=0)


def run(scenario: Any) -> Any:
    return asyncio.run(asyncio.wait_for(scenario, 20))


async def until(conn: Any, *types: str) -> Any:
    async for event in conn:
        if event.type in types:
            return event
    raise AssertionError(f"the session ended before any of {types}")


async def events_until(conn: Any, last: str) -> list[Any]:
    seen = []
    async for event in conn:
        seen.append(event)
        if event.type == last:
            return seen
    raise AssertionError(f"the session ended before {last}")


async def say(conn: Any, text: str) -> None:
    await conn.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    )


def sent(fake: FakeOpenAIServer, kind: str) -> list[dict[str, Any]]:
    return [event for _, event in fake.realtime_events if event["type"] == kind]


def rows_of(gw: GatewayServer, tenant: str, at_least: int) -> list[dict[str, Any]]:
    return latest_sync(
        lambda: [r for r in ledger_rows(gw.database_url) if r["tenant"] == tenant],
        lambda rows: len(rows) >= at_least,
    )


# ------------------------------------------------------------------------------ binary frames


def test_binary_frames_get_the_checks_text_frames_get(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    async def scenario() -> tuple[Any, Any, list[Any]]:
        async with client(gw, "rt").realtime.connect(model="gpt-realtime") as conn:
            update = {"type": "session.update", "session": {"type": "realtime", **UNCAPPED}}
            await conn.send_raw(json.dumps(update).encode())
            await until(conn, "session.updated")
            await say(conn, "hello over binary")
            create = {"type": "response.create", "response": {"output_modalities": ["text"]}}
            await conn.send_raw(json.dumps(create).encode())
            done = await until(conn, "response.done")
            await conn.send_raw(b'{"type": "response.create", "response": {}}\xff')  # not UTF-8
            refused = await until(conn, "error")
            await say(conn, "still here")  # what comes before its echo came of the bad frame
            after = await events_until(conn, "conversation.item.added")
            return done, refused, after

    done, refused, after = run(scenario())
    ledger_row(gw.database_url, response_id=done.response.id, tenant="rt")
    [_, update] = sent(fake, "session.update")  # the gateway's own, then the client's
    assert update["session"]["max_output_tokens"] == 1000, "'inf' clamped in a binary frame"
    assert len(sent(fake, "response.create")) == 1, "the binary create went on as text"
    assert (refused.error.code, refused.error.type) == ("invalid_json", "invalid_request_error")
    assert [e.type for e in after] == ["conversation.item.added"], "nothing reached the fake"


def test_a_binary_create_with_a_forbidden_tool_is_refused(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    async def scenario() -> Any:
        async with client(gw, "rt-no-mcp").realtime.connect(model="gpt-realtime") as conn:
            mcp = {"type": "mcp", "server_label": "x", "server_url": "https://mcp.example"}
            create = {"type": "response.create", "response": {"tools": [mcp]}}
            await conn.send_raw(json.dumps(create).encode())
            return await until(conn, "error")

    refused = run(scenario())
    assert refused.error.code == "tool_not_allowed"
    assert sent(fake, "response.create") == []
    assert [r for r in ledger_rows(gw.database_url) if r["tenant"] == "rt-no-mcp"] == []


def test_binary_frames_on_the_responses_socket_are_checked_too(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    async def scenario() -> tuple[Any, Any]:
        async with client(gw, "rt").responses.connect() as conn:
            create = {"type": "response.create", "model": "gpt-5-nano", "input": "hi"}
            await conn.send_raw(json.dumps(create).encode())
            done = await until(conn, "response.completed", "error")
            await conn.send_raw(b"\xff")
            return done, await until(conn, "error")

    done, refused = run(scenario())
    assert done.type == "response.completed"
    row = ledger_row(gw.database_url, response_id=done.response.id)
    assert row["endpoint"] == "responses.websocket"
    assert refused.error.code == "invalid_json"
    [sent_create] = [e for _, e in fake.responses_ws_events if e.get("type") == "response.create"]
    assert sent_create["max_output_tokens"] == 1000, "capped like a text frame"


# ------------------------------------------------------------------------------ model changes


def test_a_session_keeps_its_model(gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    async def scenario() -> tuple[list[Any], Any]:
        refusals = []
        async with client(gw, "rt").realtime.connect(model="gpt-realtime") as conn:
            for model in ("gpt-realtime-mini", "no-such-model"):
                await conn.session.update(session={"type": "realtime", "model": model})
                refusals.append(await until(conn, "error"))
            await conn.session.update(session={"type": "realtime", "model": "gpt-realtime"})
            await until(conn, "session.updated")
            await say(conn, "which model")
            await conn.response.create(response={"output_modalities": ["text"]})
            return refusals, await until(conn, "response.done")

    refusals, done = run(scenario())
    assert [r.error.code for r in refusals] == ["model_change_not_supported", "model_not_found"]
    assert refusals[0].error.param == "session.model"
    models = [u["session"].get("model") for u in sent(fake, "session.update")]
    assert models == [None, "gpt-realtime"], "only the session's own model went upstream"
    row = ledger_row(gw.database_url, response_id=done.response.id)
    assert row["requested_model"] == "gpt-realtime"


def test_a_model_the_tenant_may_not_use_is_named_as_such(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    async def scenario() -> Any:
        async with client(gw, "rt-only").realtime.connect(model="gpt-realtime") as conn:
            await conn.session.update(session={"type": "realtime", "model": "gpt-realtime-mini"})
            return await until(conn, "error")

    assert run(scenario()).error.code == "model_not_allowed"
    assert len(sent(fake, "session.update")) == 1, "the gateway's own cap only"


# ------------------------------------------------------------------------------ transcription


def transcribing(model: str) -> Any:
    return {"type": "realtime", "audio": {"input": {"transcription": {"model": model}}}}


@pytest.mark.parametrize(
    ("model", "cost"),
    [
        ("whisper-1", 100_000),  # 1 s at $0.0001 a second
        ("gpt-4o-transcribe", 10 * 6_000 + 7 * 10_000),  # 10 audio tokens in, 7 words out
    ],
)
def test_each_transcript_is_one_ledger_row_at_its_model_price(
    gw: GatewayServer, fake: FakeOpenAIServer, model: str, cost: int
) -> None:
    async def scenario() -> tuple[Any, Any]:
        async with client(gw, "rt").realtime.connect(model="gpt-realtime") as conn:
            created = await until(conn, "session.created")
            await conn.session.update(session=transcribing(model))
            await until(conn, "session.updated")
            await conn.input_audio_buffer.append(audio=ONE_SECOND)
            await conn.input_audio_buffer.commit()
            done = await until(conn, "conversation.item.input_audio_transcription.completed")
            return created, done

    created, done = run(scenario())
    row = ledger_row(gw.database_url, response_id=done.item_id)
    assert (row["tenant"], row["endpoint"], row["requested_model"]) == ("rt", "realtime", model)
    assert row["cost_nanos"] == cost
    assert row["session_id"] == created.session.id
    assert not row["estimated"]
    assert not row["unpriced"]


@pytest.mark.parametrize(
    ("tenant", "model", "code"),
    [("rt-only", "whisper-1", "model_not_allowed"), ("rt", "asr-unpriced", "model_not_priced")],
)
def test_a_transcription_model_is_checked_like_any_model(
    gw: GatewayServer, fake: FakeOpenAIServer, tenant: str, model: str, code: str
) -> None:
    async def scenario() -> Any:
        async with client(gw, tenant).realtime.connect(model="gpt-realtime") as conn:
            await conn.session.update(session=transcribing(model))
            return await until(conn, "error")

    assert run(scenario()).error.code == code
    assert len(sent(fake, "session.update")) == 1, "refused before the upstream"


def test_a_client_secret_cannot_fix_a_forbidden_transcription_model(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    session = {**transcribing("whisper-1"), "model": "gpt-realtime"}
    answer = httpx.post(
        f"{gw.base_url}/realtime/client_secrets",
        headers={"authorization": f"Bearer {gw.token('rt-only')}"},
        json={"session": session},
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "model_not_allowed"
    assert [r for r in fake.requests if r.path.startswith("/v1/realtime")] == []


# ------------------------------------------------------------------------------ voice activity


def test_voice_started_responses_run_on_a_bound_held_in_advance(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    vad_on: Any = {
        "type": "realtime",
        "output_modalities": ["text"],
        "audio": {"input": {"turn_detection": {"type": "server_vad"}}},
    }
    vad_off: Any = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with client(gw, "rt-voice").realtime.connect(model="gpt-realtime") as conn:
            await conn.session.update(session=vad_on)  # holds the next response's bound
            await until(conn, "session.updated")
            await say(conn, "hi")
            await conn.response.create()
            seen["held"] = await until(conn, "error", "response.created")
            await conn.session.update(session=vad_off)  # gives it back
            await until(conn, "session.updated")
            await conn.response.create()
            seen["asked"] = await until(conn, "response.done")
            await conn.session.update(session=vad_on)
            await until(conn, "session.updated")
            await conn.input_audio_buffer.append(audio=THREE_SECONDS)  # a turn: a response
            seen["voiced"] = await until(conn, "response.done")
            seen["next"] = await until(conn, "error")  # no bound for the next one: off
            seen["off"] = await until(conn, "session.updated")
            await conn.input_audio_buffer.append(audio=ONE_SECOND)  # a turn, no response
            seen["turn"] = await events_until(conn, "conversation.item.done")
            await conn.input_audio_buffer.clear()
            seen["after"] = await events_until(conn, "input_audio_buffer.cleared")
        return seen

    seen = run(scenario())
    assert seen["held"].type == "error", "the held bound leaves no room for another"
    assert seen["held"].error.code == "budget_exceeded"
    assert seen["voiced"].response.status == "completed"
    assert seen["next"].error.code == "budget_exceeded"
    detection = seen["off"].session.audio.input.turn_detection
    assert (detection.type, detection.create_response) == ("server_vad", False)
    assert "response.created" not in [e.type for e in seen["turn"] + seen["after"]]
    assert len(sent(fake, "response.create")) == 1, "the refused create never went upstream"
    [off] = [u for u in sent(fake, "session.update") if u.get("event_id", "").endswith("_vad")]
    assert off["session"]["audio"]["input"]["turn_detection"]["create_response"] is False
    rows = rows_of(gw, "rt-voice", 2)
    assert [r["response_id"] for r in rows] == [
        seen["asked"].response.id,
        seen["voiced"].response.id,
    ]
    assert not any(r["estimated"] for r in rows)
    assert sum(int(r["cost_nanos"]) for r in rows) <= 71_000_000
    assert BOUND_CAP_100 + int(rows[1]["cost_nanos"]) > 71_000_000 - int(rows[0]["cost_nanos"])
