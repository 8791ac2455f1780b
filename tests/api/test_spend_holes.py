"""No spend hole, through the SDK: every field that moves cost is in the bound, or refused.

Each test takes one class of issue 15 and several of its members. A refused
call never reaches the fake upstream; an admitted one is reserved at a bound
that covers what it can cost, seen here through the budget refusal that names
it ("this call may cost up to $X") or the ledger.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import openai
import orjson
import pytest
from harness import GatewayServer, config_dict, ledger_row, merged, sdk, tenants_gateway
from openai.types.responses import ResponsePromptParam

from fake_openai import FakeOpenAIServer, Fault

WINDOW_USD = 400_000 * 0.05 / 1e6  # gpt-5-nano's context window at its input price: $0.02
TENANTS = {
    # $0.01 a day: plenty for a plain call, not for one that may read a whole window.
    "holes": {"models": ["*"], "max_output_tokens": 64, "budgets": {"daily_usd": 0.01}},
    "capped": {"max_output_tokens": 64},
    "rejecter": {"max_output_tokens": 64, "output_cap_mode": "reject"},
    "choosy": {"tools": ["web_search"]},
    # 10,000 output tokens of gpt-5-nano are $0.004 at standard, $0.008 at priority.
    "tiered": {"max_output_tokens": 10_000, "budgets": {"daily_usd": 0.006}},
    "listed": {
        "max_output_tokens": 10_000,
        "budgets": {"daily_usd": 0.006},
        "service_tiers": ["auto", "default", "flex"],
    },
}


@pytest.fixture(scope="module")
def gw(fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:  # fmt: skip
    with tenants_gateway(fake_server.base_url, tmp_path_factory, TENANTS, "holes") as server:
        yield server


def assert_bound_at_least(err: openai.RateLimitError, usd: float) -> None:
    """The budget refusal names a bound of at least ``usd`` (it is shown to 4 decimals)."""
    assert err.code == "budget_exceeded"
    found = re.search(r"may cost up to \$([\d,]+\.\d+)", err.message)
    assert found is not None, err.message
    assert float(found.group(1).replace(",", "")) + 0.00005 >= usd, err.message


def user(content: Any) -> list[Any]:
    return [{"role": "user", "content": content}]


# Class 3: every field that sets output length.


def test_every_chat_output_length_field_is_capped_and_the_bound_takes_the_largest(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    raw = sdk(gw, "capped").chat.completions.with_raw_response.create(
        model="gpt-5-nano", messages=user("x"), max_completion_tokens=32, max_tokens=100_000
    )
    assert raw.headers["x-gateway-output-cap"] == "clamped; limit=64"
    sent = fake.requests[-1].json()
    assert (sent["max_completion_tokens"], sent["max_tokens"]) == (32, 64)
    for asked in ({"max_completion_tokens": 32, "max_tokens": 65}, {"max_completion_tokens": 65}):
        with pytest.raises(openai.BadRequestError) as err:
            sdk(gw, "rejecter").chat.completions.create(
                model="gpt-5-nano", messages=user("x"), extra_body=asked
            )
        assert err.value.code == "output_cap_exceeded"
    assert len(fake.requests) == 1


def test_choices_multiply_the_output_bound(gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    client = sdk(gw, "listed")  # auto is bounded at standard for it
    client.chat.completions.create(model="gpt-5-nano", messages=user("x"), n=1)
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model="gpt-5-nano", messages=user("x"), n=2)
    assert_bound_at_least(err.value, 2 * 10_000 * 0.40 / 1e6)
    assert len(fake.requests) == 1


# Class 2: content the body only references.


@pytest.fixture(scope="module")
def own_item(gw: GatewayServer) -> str:
    """An output item of the tenant's own stored response (items are the caller's to name)."""
    answer = sdk(gw, "holes").responses.create(model="gpt-5-nano", input="hello")
    item_id = answer.output[-1].id
    assert item_id is not None
    return item_id


def test_content_named_by_reference_is_bounded_at_the_context_window(
    gw: GatewayServer, fake: FakeOpenAIServer, own_item: str
) -> None:
    responses: list[dict[str, Any]] = [
        {"input": [{"type": "item_reference", "id": own_item}]},
        {"input": [{"id": own_item}]},  # an item reference without its optional type
        # A stored image, stored reasoning: read by id (so they must be the caller's too).
        {"input": [{"type": "image_generation_call", "id": own_item}]},
        {"input": [{"type": "reasoning", "id": own_item, "summary": []}]},
        {"input": user([{"type": "input_file", "file_url": "https://example.com/a.pdf"}])},
        {"input": user([{"type": "input_image", "image_url": "https://example.com/a.png"}])},
    ]
    chats: list[list[Any]] = [
        user([{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]),
        [*user("again"), {"role": "assistant", "audio": {"id": "audio_0123"}}],  # stored audio
    ]
    client = sdk(gw, "holes")
    client.responses.create(model="gpt-5-nano", input="hello")  # the same call, inline: fits
    fake.clear()
    for body in responses:
        with pytest.raises(openai.RateLimitError) as err:
            client.responses.create(model="gpt-5-nano", **body)
        assert_bound_at_least(err.value, WINDOW_USD)
    for messages in chats:
        with pytest.raises(openai.RateLimitError) as err:
            client.chat.completions.create(model="gpt-5-nano", messages=messages)
        assert_bound_at_least(err.value, WINDOW_USD)
    assert fake.requests == []


def test_a_stored_prompt_is_bounded_at_the_window_and_any_tool_or_refused(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    prompt: ResponsePromptParam = {"id": "pmpt_0123", "variables": {"city": "Paris"}}
    with pytest.raises(openai.PermissionDeniedError) as denied:
        sdk(gw, "choosy").responses.create(model="gpt-5-nano", prompt=prompt)
    assert (denied.value.code, denied.value.param) == ("tool_not_allowed", "prompt")
    with pytest.raises(openai.RateLimitError) as err:
        sdk(gw, "holes").responses.create(model="gpt-5-nano", prompt=prompt)
    # The window, once per hosted-tool call it may make (8), and the dearest fee per call.
    assert_bound_at_least(err.value, 9 * WINDOW_USD + 8 * 1.92)
    assert fake.requests == []


# Class 6: hosted tools without a price.


@pytest.mark.parametrize("kind", ["programmatic_tool_calling", "brand_new_hosted_tool"])
def test_a_hosted_tool_without_a_price_is_refused(
    gw: GatewayServer, fake: FakeOpenAIServer, kind: str
) -> None:
    with pytest.raises(openai.PermissionDeniedError) as err:
        sdk(gw, "alpha").responses.create(
            model="gpt-5-nano",
            input="x",
            extra_body={"tools": [{"type": kind}]},
        )
    assert (err.value.code, err.value.param) == ("tool_not_priced", "tools")
    assert kind in err.value.message
    assert fake.requests == []


@pytest.mark.parametrize(
    ("tool", "fee_usd"),
    [
        ({"type": "image_generation"}, 0.30),
        ({"type": "code_interpreter", "container": {"type": "auto", "memory_limit": "64g"}}, 1.92),
        ({"type": "mcp", "server_label": "kb", "server_url": "https://example.com/mcp"}, 0),
    ],
)
def test_priced_hosted_tools_reserve_their_fee_and_a_pass_per_call(
    gw: GatewayServer, fake: FakeOpenAIServer, tool: dict[str, Any], fee_usd: float
) -> None:
    with pytest.raises(openai.RateLimitError) as err:
        sdk(gw, "holes").responses.create(model="gpt-5-nano", input="x", tools=[tool])  # type: ignore[list-item]
    assert_bound_at_least(err.value, 8 * (WINDOW_USD + fee_usd))
    assert fake.requests == []


def test_the_operator_may_serve_unpriced_tools(
    fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    config = merged(config_dict(fake_server.base_url), {"accounting": {"allow_unpriced": True}})
    db = tmp_path_factory.mktemp("lenient") / "gateway.db"
    fake_server.clear()
    with GatewayServer(config, database_url=f"sqlite:///{db}") as lenient:
        sdk(lenient, "alpha").responses.create(
            model="gpt-5-nano",
            input="x",
            extra_body={"tools": [{"type": "brand_new_hosted_tool"}]},
        )
    assert fake_server.requests[-1].json()["max_tool_calls"] == 8


# Class 7: the service tier.


def test_the_bound_is_taken_at_the_dearest_tier_the_call_may_be_served_at(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    tiered = sdk(gw, "tiered")
    for tier in ("default", "flex"):  # asked explicitly: bounded at that tier (standard)
        tiered.responses.create(model="gpt-5-nano", input="x", service_tier=tier)
    assert len(fake.requests) == 2
    for asked in ({}, {"service_tier": "auto"}, {"service_tier": "priority"}):
        with pytest.raises(openai.RateLimitError) as err:
            tiered.responses.create(model="gpt-5-nano", input="x", extra_body=asked)
        assert_bound_at_least(err.value, 2 * 10_000 * 0.40 / 1e6)
    with pytest.raises(openai.RateLimitError):
        tiered.chat.completions.create(model="gpt-5-nano", messages=user("x"))
    assert len(fake.requests) == 2
    # A tenant that may not ask for priority is bounded at standard when it asks for auto.
    sdk(gw, "listed").responses.create(model="gpt-5-nano", input="x")
    assert len(fake.requests) == 3


def test_a_tier_without_a_price_is_refused(gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    with pytest.raises(openai.PermissionDeniedError) as err:
        sdk(gw, "alpha").responses.create(
            model="gpt-5-nano", input="x", extra_body={"service_tier": "ultrafast"}
        )
    assert (err.value.code, err.value.param) == ("service_tier_not_priced", "service_tier")
    assert fake.requests == []


def test_usage_is_billed_at_the_tier_the_response_reports(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    answer = {
        "id": "resp_served_at_priority",
        "object": "response",
        "created_at": 1,
        "status": "completed",
        "model": "gpt-5-nano",
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "service_tier": "priority",  # asked auto, served (and billed) at priority
        "usage": {
            "input_tokens": 1000,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 100,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 1100,
        },
    }
    fake.inject(Fault(path="/v1/responses", body=orjson.dumps(answer)))
    served = sdk(gw, "alpha").responses.create(model="gpt-5-nano", input="x")
    assert served.service_tier == "priority"
    row = ledger_row(gw.database_url, response_id=served.id)
    assert row["cost_nanos"] == 2 * (1000 * 50 + 100 * 400)
