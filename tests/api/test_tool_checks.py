"""Tool-call checks through the official SDK: the functions a tenant may declare, and the
tool calls models return, counted by name and logged by name, never with their arguments."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from harness import GatewayServer, ledger_rows, metric_value, sdk, tenants_gateway

from fake_openai import FakeOpenAIServer, Fault

# Arguments with a marker that must never reach a log line.
SECRET_ARGS = '{"city": "Zanzibar-7f3a9", "unit": "celsius"}'
MARKER = "Zanzibar-7f3a9"
PARAMS: Any = {"type": "object", "properties": {"city": {"type": "string"}}}

TENANTS = {
    "toolish": {"functions": ["get_weather", "search_*"]},
    "anytool": {},
}


def fn(name: str) -> Any:
    return {"type": "function", "name": name, "parameters": PARAMS}


def chat_fn(name: str) -> Any:
    return {"type": "function", "function": {"name": name, "parameters": PARAMS}}


@pytest.fixture(scope="module")
def gw(fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:  # fmt: skip
    with tenants_gateway(fake_server.base_url, tmp_path_factory, TENANTS, "tools") as server:
        yield server


def test_a_function_not_allowed_is_refused_before_admission(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    rows = len(ledger_rows(gw.database_url))
    client = sdk(gw, "toolish")
    with pytest.raises(openai.PermissionDeniedError) as err:
        client.responses.create(
            model="gpt-5-nano", input="x", tools=[fn("get_weather"), fn("delete_account")]
        )
    assert err.value.status_code == 403
    assert err.value.code == "function_not_allowed"
    body = err.value.body
    assert isinstance(body, dict)
    assert body["param"] == "tools"
    assert "delete_account" in body["message"]
    with pytest.raises(openai.PermissionDeniedError) as err:
        client.responses.create(
            model="gpt-5-nano",
            input="x",
            tools=[{"type": "custom", "name": "run_sql", "description": "SQL"}],
        )
    assert err.value.code == "function_not_allowed"
    assert fake.requests == []
    assert len(ledger_rows(gw.database_url)) == rows  # refused before admission: no row


def test_chat_tools_and_legacy_functions_are_checked(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    client = sdk(gw, "toolish")
    messages: Any = [{"role": "user", "content": "x"}]
    with pytest.raises(openai.PermissionDeniedError) as err:
        client.chat.completions.create(
            model="gpt-5-nano", messages=messages, tools=[chat_fn("rm_rf")]
        )
    assert (err.value.code, _param(err.value)) == ("function_not_allowed", "tools")
    with pytest.raises(openai.PermissionDeniedError) as err:
        client.chat.completions.create(
            model="gpt-5-nano",
            messages=messages,
            functions=[{"name": "rm_rf", "parameters": PARAMS}],
        )
    assert (err.value.code, _param(err.value)) == ("function_not_allowed", "functions")
    assert fake.requests == []
    client.chat.completions.create(
        model="gpt-5-nano",
        messages=messages,
        tools=[chat_fn("search_docs"), chat_fn("get_weather")],
    )
    assert len(fake.requests) == 1  # exact and glob names pass


def test_every_function_is_allowed_by_default(gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    sdk(gw, "anytool").responses.create(model="gpt-5-nano", input="x", tools=[fn("anything")])
    assert len(fake.requests) == 1


def test_a_stored_prompt_is_refused_when_functions_are_restricted(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    with pytest.raises(openai.PermissionDeniedError) as err:
        sdk(gw, "toolish").responses.create(model="gpt-5-nano", prompt={"id": "pmpt_1"})
    assert (err.value.code, _param(err.value)) == ("function_not_allowed", "prompt")
    assert fake.requests == []


def _param(err: openai.APIStatusError) -> object:
    return err.body.get("param") if isinstance(err.body, dict) else None


def _calls(gw: GatewayServer, tenant: str, name: str) -> float:
    return metric_value(gw, "gateway_tool_calls_total", tenant=tenant, tool=name)


def test_tool_calls_are_counted_by_name_in_answers_and_streams(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    client = sdk(gw, "toolish")
    before = _calls(gw, "toolish", "get_weather")
    tools = [fn("get_weather")]
    fake.inject(Fault(function_call=("get_weather", SECRET_ARGS)))
    client.responses.create(model="gpt-5-nano", input="w", tools=tools)
    fake.inject(Fault(function_call=("get_weather", SECRET_ARGS)))
    list(client.responses.create(model="gpt-5-nano", input="w", tools=tools, stream=True))
    messages: Any = [{"role": "user", "content": "w"}]
    chat_tools = [chat_fn("get_weather")]
    fake.inject(Fault(function_call=("get_weather", SECRET_ARGS)))
    client.chat.completions.create(model="gpt-5-nano", messages=messages, tools=chat_tools)
    fake.inject(Fault(function_call=("get_weather", SECRET_ARGS)))
    chunks = list(
        client.chat.completions.create(
            model="gpt-5-nano", messages=messages, tools=chat_tools, stream=True
        )
    )
    assert chunks[-1].choices[0].finish_reason == "tool_calls"  # the stream reached the client
    assert _calls(gw, "toolish", "get_weather") == before + 4
    sdk(gw, "toolish").responses.create(model="gpt-5-nano", input="no tools")
    assert _calls(gw, "toolish", "get_weather") == before + 4  # a text answer counts nothing


def test_one_log_line_per_call_with_the_name_and_never_the_arguments(
    gw: GatewayServer, fake: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = sdk(gw, "anytool")
    fake.inject(Fault(function_call=("lookup", SECRET_ARGS)))
    raw = client.responses.with_raw_response.create(
        model="gpt-5-nano", input="w", tools=[fn("lookup")]
    )
    request_id = raw.headers["x-gateway-request-id"]
    fake.inject(Fault(function_call=("lookup", SECRET_ARGS)))
    list(
        client.chat.completions.create(
            model="gpt-5-nano",
            messages=[{"role": "user", "content": "w"}],
            tools=[chat_fn("lookup")],
            stream=True,
        )
    )
    lines = [r for r in caplog.records if r.name == "gateway.toolcalls"]
    assert len(lines) == 2
    fields = lines[0].__dict__["fields"]
    assert fields == {"tenant": "anytool", "request_id": request_id, "tool": "lookup"}
    assert lines[1].__dict__["fields"]["tool"] == "lookup"
    assert lines[1].__dict__["fields"]["request_id"] != request_id
    for record in caplog.records:  # every logger, message and structured fields alike
        text = record.getMessage() + json.dumps(getattr(record, "fields", None), default=str)
        assert MARKER not in text, record.name
