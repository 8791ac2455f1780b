"""The "fix JSON" remedy through the official SDK: the same model is asked once to repair its
structured output before the next rung; every attempt is metered."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from harness import GatewayServer, config_dict, ledger_row, ledger_rows, merged, metric_value
from pydantic import BaseModel

from fake_openai import FakeOpenAIServer, Fault

REPAIR_ASK = "Reply again with only the corrected JSON"
BAD_JSON = ["invalid_json", "schema_mismatch"]
ROUTES = {
    "fixing": {
        "ladder": ["gpt-5-nano", "gpt-5-mini"],
        "escalate_on": BAD_JSON,
        "on_invalid_json": ["repair", "escalate"],
    },
    "plain": {
        "ladder": ["gpt-5-nano", "gpt-5-mini"],
        "escalate_on": BAD_JSON,
        "on_invalid_json": ["escalate"],
    },
    "fixing_buffered": {
        "ladder": ["gpt-5-nano", "gpt-5-mini"],
        "escalate_on": BAD_JSON,
        "on_invalid_json": ["repair", "escalate"],
        "buffer_streams": True,
    },
}


class Place(BaseModel):
    city: str


@pytest.fixture
def gw(fake: FakeOpenAIServer, db_url: str) -> Iterator[GatewayServer]:
    base = config_dict(fake.base_url, tenants={"solo": {"models": ["fixing"]}})
    with GatewayServer(merged(base, {"routes": ROUTES}), database_url=db_url) as g:
        yield g


def sdk(gw: GatewayServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=gw.token("alpha"), max_retries=0)


def attempts(gw: GatewayServer, request_id: str, n: int) -> list[dict[str, object]]:
    rows = [ledger_row(gw.database_url, request_id=request_id, attempt=i) for i in range(1, n + 1)]
    extra = [r for r in ledger_rows(gw.database_url) if r["request_id"] == request_id]
    assert len(extra) == n, "one ledger row per attempt, no more"
    return rows


def repairs(gw: GatewayServer, route: str) -> float:
    labels = {"route": route, "from_model": "gpt-5-nano", "to_model": "gpt-5-nano"}
    return metric_value(gw, "gateway_escalations_total", reason="repair", **labels)


def test_a_responses_repair_serves_the_same_model_fixed(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    before = repairs(gw, "fixing")
    fake.inject(Fault(model="gpt-5-nano", output_text="Paris, of course"))
    fake.inject(
        Fault(model="gpt-5-nano", body_contains=REPAIR_ASK, output_text='{"city": "Paris"}')
    )
    raw = sdk(gw).responses.with_raw_response.parse(
        model="fixing", input="Where?", text_format=Place
    )
    resp = raw.parse()
    assert resp.output_parsed == Place(city="Paris")
    assert resp.model == "gpt-5-nano"
    assert raw.headers["x-gateway-escalations"] == "gpt-5-nano>gpt-5-nano:repair"
    assert raw.headers["x-gateway-attempts"] == "2"
    # The repair request: the client's input, the broken answer, then the instruction.
    sent = fake.requests[-1].json()
    assert sent["model"] == "gpt-5-nano"
    assert sent["input"][0] == {"role": "user", "content": "Where?"}
    assert sent["input"][1] == {"role": "assistant", "content": "Paris, of course"}
    ask = sent["input"][2]["content"]
    assert ask.startswith("Your previous answer was not valid JSON for the required schema: ")
    assert ask.endswith(REPAIR_ASK + ".")
    assert sent["text"] == fake.requests[-2].json()["text"], "the same schema asked for"
    rows = attempts(gw, raw.headers["x-gateway-request-id"], 2)
    assert [r["served_model"] for r in rows] == ["gpt-5-nano", "gpt-5-nano"]
    assert all(int(r["cost_nanos"]) > 0 for r in rows), "both attempts cost money"  # type: ignore[call-overload]
    assert int(rows[1]["input_tokens"]) > int(rows[0]["input_tokens"]), "a longer input"  # type: ignore[call-overload]
    assert repairs(gw, "fixing") == before + 1


def test_a_chat_repair_says_what_the_schema_wants(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(model="gpt-5-nano", output_text='{"town": "Rome"}'))
    fake.inject(Fault(model="gpt-5-nano", body_contains=REPAIR_ASK, output_text='{"city": "Rome"}'))
    raw = sdk(gw).chat.completions.with_raw_response.parse(
        model="fixing", messages=[{"role": "user", "content": "Where?"}], response_format=Place
    )
    assert raw.parse().choices[0].message.parsed == Place(city="Rome")
    assert raw.headers["x-gateway-escalations"] == "gpt-5-nano>gpt-5-nano:repair"
    messages = fake.requests[-1].json()["messages"]
    assert messages[-2] == {"role": "assistant", "content": '{"town": "Rome"}'}
    assert messages[-1]["role"] == "user"
    assert "'city' is a required property" in messages[-1]["content"]
    rows = attempts(gw, raw.headers["x-gateway-request-id"], 2)
    assert [r["served_model"] for r in rows] == ["gpt-5-nano", "gpt-5-nano"]


def test_a_failed_repair_escalates_and_every_attempt_is_metered(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(model="gpt-5-nano", output_text="Paris"))
    fake.inject(Fault(model="gpt-5-nano", body_contains=REPAIR_ASK, output_text="Still Paris"))
    fake.inject(Fault(model="gpt-5-mini", output_text='{"city": "Paris"}'))
    raw = sdk(gw).responses.with_raw_response.parse(
        model="fixing", input="Where?", text_format=Place
    )
    resp = raw.parse()
    assert resp.output_parsed == Place(city="Paris")
    assert resp.model == "gpt-5-mini"
    trail = "gpt-5-nano>gpt-5-nano:repair,gpt-5-nano>gpt-5-mini:invalid_json"
    assert raw.headers["x-gateway-escalations"] == trail
    assert "Reply again" not in str(fake.requests[-1].json()["input"]), "the next rung starts clean"
    rows = attempts(gw, raw.headers["x-gateway-request-id"], 3)
    assert [r["served_model"] for r in rows] == ["gpt-5-nano", "gpt-5-nano", "gpt-5-mini"]


def test_a_top_rung_repairs_too_and_its_last_answer_stands(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(model="gpt-5-nano", output_text="Paris"))
    fake.inject(Fault(model="gpt-5-nano", body_contains=REPAIR_ASK, output_text="Paris!"))
    fake.inject(Fault(model="gpt-5-mini", output_text="Paris?"))
    fake.inject(Fault(model="gpt-5-mini", body_contains=REPAIR_ASK, output_text="Paris."))
    raw = sdk(gw).responses.with_raw_response.create(
        model="fixing", input="Where?", text={"format": {"type": "json_object"}}
    )
    assert raw.parse().output_text == "Paris.", "the last answer, not an error"
    assert raw.headers["x-gateway-attempts"] == "4"
    rows = attempts(gw, raw.headers["x-gateway-request-id"], 4)
    assert [r["served_model"] for r in rows] == ["gpt-5-nano"] * 2 + ["gpt-5-mini"] * 2


def test_escalate_only_is_unchanged(gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    before = repairs(gw, "plain")
    fake.inject(Fault(model="gpt-5-nano", output_text="Paris"))
    fake.inject(Fault(model="gpt-5-mini", output_text='{"city": "Paris"}'))
    raw = sdk(gw).chat.completions.with_raw_response.parse(
        model="plain", messages=[{"role": "user", "content": "Where?"}], response_format=Place
    )
    assert raw.parse().choices[0].message.parsed == Place(city="Paris")
    assert raw.headers["x-gateway-escalations"] == "gpt-5-nano>gpt-5-mini:invalid_json"
    assert not any(REPAIR_ASK.encode() in r.body for r in fake.requests)
    rows = attempts(gw, raw.headers["x-gateway-request-id"], 2)
    assert [r["served_model"] for r in rows] == ["gpt-5-nano", "gpt-5-mini"]
    assert repairs(gw, "plain") == before


def test_a_buffered_stream_is_repaired_and_one_clean_stream_goes_out(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(model="gpt-5-nano", output_text="Oslo"))
    fake.inject(Fault(model="gpt-5-nano", body_contains=REPAIR_ASK, output_text='{"city": "Oslo"}'))
    with sdk(gw).responses.stream(
        model="fixing_buffered", input="Where?", text_format=Place
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert final.output_parsed == Place(city="Oslo")
    assert sum(e.type == "response.created" for e in events) == 1, "one clean stream"
    assert len(fake.requests) == 2
    assert REPAIR_ASK.encode() in fake.requests[-1].body


def test_an_unbuffered_stream_is_not_checked(gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(model="gpt-5-nano", output_text="Oslo"))
    raw = sdk(gw).responses.with_raw_response.create(
        model="fixing",
        input="Where?",
        stream=True,
        text={"format": {"type": "json_object"}},
    )
    events = list(raw.parse())
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "Oslo", "streamed as it came"
    assert "x-gateway-escalations" not in raw.headers
    assert len(fake.requests) == 1
