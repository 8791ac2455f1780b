"""PII and secret redaction through the official SDK: blocked before admission (no quota
spent), masked upstream, restored in JSON and in streams whose deltas cut placeholders,
and never a raw value in the logs or /metrics."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import openai
import pytest
from harness import GatewayServer, ledger_row, ledger_rows, metric_value, sdk, tenants_gateway

from fake_openai import FakeOpenAIServer
from fake_openai.faults import Fault

T = TypeVar("T")
EMAIL, CARD = "bob@example.com", "4111 1111 1111 1111"
KEY = "sk-proj-Xk29fLq8ZpR4mT7vN1bW6yH3cJ0dG5sAeU"
TENANTS = {
    "masked": {"pii": {"mode": "mask"}},
    "restored": {"pii": {"mode": "mask", "restore": True}},
    "blocked": {
        "pii": {"mode": "block", "entities": ["card", "secret"]},
        "budgets": {"daily_usd": 1},
        "limits": {"rpm": 2},
    },
    "logged": {"pii": {"mode": "log"}},
}


@pytest.fixture(scope="module")
def gw(fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:  # fmt: skip
    with tenants_gateway(fake_server.base_url, tmp_path_factory, TENANTS, "pii") as server:
        yield server


def sent(fake: FakeOpenAIServer) -> str:
    """What the upstream received last, decoded (so «» are compared as characters)."""
    return json.dumps(json.loads(fake.requests[-1].body), ensure_ascii=False)


def test_a_blocked_call_is_refused_before_admission_and_costs_nothing(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    client = sdk(gw, "blocked")
    for _ in range(3):  # more than the tenant's rpm: a refusal takes no rate-limit slot
        with pytest.raises(openai.BadRequestError) as err:
            client.chat.completions.create(
                model="gpt-5-nano", messages=[{"role": "user", "content": f"pay with {CARD}"}]
            )
        assert err.value.code == "pii_detected"
        assert "card" in err.value.message
        assert CARD not in err.value.message
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="gpt-5-nano", input=[
            {"type": "function_call_output", "call_id": "c1", "output": f"key={KEY}"}])  # fmt: skip
    assert err.value.code == "pii_detected"
    assert "secret" in err.value.message
    assert fake.requests == []
    budget = {"tenant": "blocked", "window": "day", "model": "_all"}
    assert metric_value(gw, "gateway_budget_remaining_usd", **budget) == 1.0
    # An entity the tenant does not block goes through, and is the only call metered.
    answer = client.responses.with_raw_response.create(model="gpt-5-nano", input=f"hi {EMAIL}")
    assert answer.headers["x-ratelimit-remaining-requests"] == "1"
    request_id = answer.headers["x-gateway-request-id"]
    rows = [r for r in ledger_rows(gw.database_url, at_least=1) if r["tenant"] == "blocked"]
    assert [r["request_id"] for r in rows] == [request_id]
    assert len(fake.requests) == 1
    assert metric_value(gw, "gateway_pii_detections_total", tenant="blocked", entity="card",
                        action="blocked") == 3  # fmt: skip


def test_mask_sends_placeholders_from_every_input_text(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    client = sdk(gw, "masked")
    answer = client.chat.completions.create(
        model="gpt-5-nano",
        messages=[
            {"role": "system", "content": f"The operator is {EMAIL}."},
            {"role": "user", "content": [{"type": "text", "text": f"Mail {EMAIL}, card {CARD}"}]},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "t1", "type": "function",
             "function": {"name": "lookup", "arguments": json.dumps({"ip": "10.20.30.40"})}}]},
            {"role": "tool", "tool_call_id": "t1", "content": f"token={KEY}"},
        ],
    )  # fmt: skip
    upstream = sent(fake)
    for value in (EMAIL, CARD, KEY, "10.20.30.40"):
        assert value not in upstream
    assert upstream.count("«EMAIL_1»") == 2
    assert "«EMAIL_2»" not in upstream
    assert "«CARD_1»" in upstream
    assert "«SECRET_1»" in upstream
    assert "«IP_1»" in upstream
    assert answer.choices[0].message.content is not None
    assert "«EMAIL_1»" in answer.choices[0].message.content  # restore is off

    client.responses.create(
        model="gpt-5-nano",
        instructions=f"Reply to {EMAIL}",
        input=[
            {"role": "user", "content": [{"type": "input_text", "text": f"card {CARD}"}]},
            {"type": "function_call_output", "call_id": "c1", "output": "ip 10.20.30.40"},
        ],
    )
    upstream = sent(fake)
    assert EMAIL not in upstream
    assert CARD not in upstream
    assert "10.20.30.40" not in upstream
    assert "«EMAIL_1»" in upstream
    assert "«IP_1»" in upstream


def test_a_large_input_is_scanned_whole_off_the_event_loop(
    gw: GatewayServer, fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    threaded: list[str] = []
    to_thread = asyncio.to_thread

    async def spy(func: Callable[..., T], /, *args: Any) -> T:
        threaded.append(getattr(func, "__name__", "?"))
        return await to_thread(func, *args)

    monkeypatch.setattr(asyncio, "to_thread", spy)
    client = sdk(gw, "masked")
    client.responses.create(model="gpt-5-nano", input=f"short, for {EMAIL}")
    assert threaded == []
    filler = "lorem ipsum dolor sit amet " * 800  # ~21 KB: scanned in a worker thread
    client.responses.create(model="gpt-5-nano", input=f"{filler} reach {EMAIL}")
    assert threaded == ["scan"]
    upstream = sent(fake)
    assert len(upstream) > 20_000
    assert EMAIL not in upstream
    assert "reach «EMAIL_1»" in upstream


def test_restore_puts_values_back_in_json_answers(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    client = sdk(gw, "restored")
    chat = client.chat.completions.create(
        model="gpt-5-nano", messages=[{"role": "user", "content": f"write to {EMAIL} today"}]
    )
    assert "«EMAIL_1»" in sent(fake)
    assert chat.choices[0].message.content == f"Fake answer: write to {EMAIL} today"
    response = client.responses.create(model="gpt-5-nano", input=f"write to {EMAIL} today")
    assert response.output_text == f"Fake answer: write to {EMAIL} today"

    fake.inject(Fault(function_call=("send_mail", '{"to": "«EMAIL_1»", "cc": "«EMAIL_7»"}')))
    called = client.responses.create(model="gpt-5-nano", input=f"mail {EMAIL}")
    calls = [item for item in called.output if item.type == "function_call"]
    assert len(calls) == 1
    assert json.loads(calls[0].arguments) == {"to": EMAIL, "cc": "«EMAIL_7»"}  # unknown: kept


def test_restore_in_streams_with_placeholders_cut_across_deltas(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    client = sdk(gw, "restored")
    prompt = f"write to {EMAIL} and {KEY} today"
    expected = f"Fake answer: {prompt}"
    fake.inject(Fault(path="/v1/chat/completions", delta_chars=3))
    stream = client.chat.completions.create(
        model="gpt-5-nano", messages=[{"role": "user", "content": prompt}], stream=True
    )
    deltas = [
        c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content
    ]
    assert "".join(deltas) == expected
    assert "«SECRET_1»" in sent(fake)

    fake.inject(Fault(path="/v1/responses", delta_chars=5))
    events = list(client.responses.create(model="gpt-5-nano", input=prompt, stream=True))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == expected
    done = [e.text for e in events if e.type == "response.output_text.done"]
    assert done == [expected]
    completed = [e.response for e in events if e.type == "response.completed"]
    assert completed[0].output_text == expected

    fake.inject(Fault(path="/v1/chat/completions", delta_chars=4,
                      function_call=("send_mail", '{"to": "«EMAIL_1»"}')))  # fmt: skip
    stream = client.chat.completions.create(
        model="gpt-5-nano", messages=[{"role": "user", "content": f"mail {EMAIL}"}], stream=True
    )
    arguments = "".join(
        call.function.arguments or ""
        for chunk in stream
        if chunk.choices
        for call in chunk.choices[0].delta.tool_calls or ()
        if call.function is not None
    )
    assert json.loads(arguments) == {"to": EMAIL}


def test_log_mode_counts_kinds_and_never_logs_or_exports_a_value(
    gw: GatewayServer, fake: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    client = sdk(gw, "logged")
    client.responses.create(model="gpt-5-nano", input=f"{EMAIL} {EMAIL} card {CARD} key {KEY}")
    assert EMAIL in sent(fake)  # log mode changes nothing upstream
    lines = [r for r in caplog.records if r.name == "gateway.guardrails.pii"]
    assert len(lines) == 1
    assert lines[0].fields["pii"] == {"card": 1, "email": 2, "secret": 1}  # type: ignore[attr-defined]
    assert lines[0].fields["action"] == "logged"  # type: ignore[attr-defined]
    metrics = httpx.get(gw.metrics_url).text
    assert metric_value(gw, "gateway_pii_detections_total", tenant="logged", entity="email",
                        action="logged") == 2  # fmt: skip
    for value in (EMAIL, CARD, KEY, "4111111111111111"):
        assert value not in caplog.text
        assert value not in metrics


def test_realtime_text_items_are_masked_per_session_or_refused(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    def item(text: str) -> dict[str, Any]:
        content = [{"type": "input_text", "text": text}]
        return {"type": "message", "role": "user", "content": content}

    async def scenario(tenant: str, texts: list[str]) -> list[Any]:
        api = openai.AsyncOpenAI(base_url=gw.base_url, api_key=gw.token(tenant), max_retries=0)
        async with api.realtime.connect(model="gpt-realtime") as conn:
            await anext(aiter(conn))  # session.created
            for i, text in enumerate(texts):
                await conn.conversation.item.create(item=item(text), event_id=f"evt_{i}")  # type: ignore[arg-type]
            seen = []
            async for event in conn:  # until each item is added upstream, or refused
                seen.append(event)
                added = [e for e in seen if e.type == "conversation.item.added"]
                if len(added) == len(texts) or event.type == "error":
                    break
            return seen

    turns = [f"hi {EMAIL}", f"cc carol@example.com and {EMAIL}"]
    asyncio.run(asyncio.wait_for(scenario("masked", turns), 20))
    items = [e for _, e in fake.realtime_events if e.get("type") == "conversation.item.create"]
    texts = [e["item"]["content"][0]["text"] for e in items]
    assert texts == ["hi «EMAIL_1»", "cc «EMAIL_2» and «EMAIL_1»"]  # one vault per session

    fake.clear()
    seen = asyncio.run(asyncio.wait_for(scenario("blocked", [f"card {CARD}"]), 20))
    errors = [e for e in seen if e.type == "error"]
    assert len(errors) == 1
    assert errors[0].error.code == "pii_detected"
    assert errors[0].error.event_id == "evt_0"
    assert CARD not in errors[0].error.message
    assert [e for _, e in fake.realtime_events if e.get("type") == "conversation.item.create"] == []


def test_the_responses_socket_masks_or_refuses_a_create(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    async def finish(conn: Any) -> Any:
        async for event in conn:
            if event.type in ("response.completed", "error"):
                return event
        raise AssertionError("the socket closed first")

    async def scenario(tenant: str, text: str) -> Any:
        api = openai.AsyncOpenAI(base_url=gw.base_url, api_key=gw.token(tenant), max_retries=0)
        async with api.responses.connect() as conn:
            await conn.response.create(model="gpt-5-nano", input=text)
            return await finish(conn)

    done = asyncio.run(asyncio.wait_for(scenario("masked", f"mail {EMAIL}"), 20))
    assert done.type == "response.completed"
    creates = [e for _, e in fake.responses_ws_events if e.get("type") == "response.create"]
    assert [e["input"] for e in creates] == ["mail «EMAIL_1»"]
    refused = asyncio.run(asyncio.wait_for(scenario("blocked", f"card {CARD}"), 20))
    assert refused.type == "error"
    assert refused.error.code == "pii_detected"
    assert len([e for _, e in fake.responses_ws_events if e.get("type") == "response.create"]) == 1


def test_the_responses_socket_restores_values_in_what_the_client_gets(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    prompt = f"write to {EMAIL} and {KEY} today"
    expected = f"Fake answer: {prompt}"

    async def scenario() -> list[Any]:
        api = openai.AsyncOpenAI(base_url=gw.base_url, api_key=gw.token("restored"), max_retries=0)
        events = []
        async with api.responses.connect() as conn:
            await conn.response.create(model="gpt-5-nano", input=prompt)
            async for event in conn:
                events.append(event)
                if event.type == "response.completed":
                    return events
        raise AssertionError("the socket closed first")

    events = asyncio.run(asyncio.wait_for(scenario(), 20))  # (cut placeholders: unit tests)
    creates = [e for _, e in fake.responses_ws_events if e.get("type") == "response.create"]
    assert "«EMAIL_1»" in creates[0]["input"]
    assert "«SECRET_1»" in creates[0]["input"], "the upstream saw placeholders only"
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert f" {EMAIL}" in deltas
    assert "".join(deltas) == expected
    assert [e.text for e in events if e.type == "response.output_text.done"] == [expected]
    assert events[-1].response.output_text == expected
    row = ledger_row(gw.database_url, response_id=events[-1].response.id)
    assert row["endpoint"] == "responses.websocket", "metered as before"


def test_a_realtime_sessions_text_answers_are_restored_for_the_client(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    async def scenario() -> list[Any]:
        api = openai.AsyncOpenAI(base_url=gw.base_url, api_key=gw.token("restored"), max_retries=0)
        async with api.realtime.connect(model="gpt-realtime") as conn:
            await anext(aiter(conn))  # session.created
            content = [{"type": "input_text", "text": f"write to {EMAIL} today"}]
            item: Any = {"type": "message", "role": "user", "content": content}
            await conn.conversation.item.create(item=item)
            await conn.response.create(response={"output_modalities": ["text"]})
            seen = []
            async for event in conn:
                seen.append(event)
                if event.type in ("response.done", "error"):
                    return seen
        raise AssertionError("the socket closed first")

    seen = asyncio.run(asyncio.wait_for(scenario(), 20))
    items = [e for _, e in fake.realtime_events if e.get("type") == "conversation.item.create"]
    assert "«EMAIL_1»" in items[0]["item"]["content"][0]["text"], "the upstream saw the mask"
    text = "".join(e.delta for e in seen if e.type == "response.output_text.delta")
    assert EMAIL in text
    assert "«" not in text
    done = seen[-1]
    assert done.type == "response.done"
    parts = [p for o in done.response.output or [] for p in getattr(o, "content", None) or []]
    assert any(EMAIL in (getattr(p, "text", None) or "") for p in parts)
