"""Content a request only names is bounded at what it can cost, never at the reference's bytes.

One pass of the model reads at most its context window, so that is the bound
of anything the body does not carry; each hosted-tool call adds a pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.config.runtime import Model
from gateway.policy.request import Applied
from gateway.pricing import load_pricing
from gateway.quota.bound import Sizing, admission_bound, input_bound_tokens

TABLE = load_pricing(Path(__file__).resolve().parents[2] / "config" / "pricing.yaml")
WINDOW = 400_000
MODEL = Model("gpt-5", "openai", "gpt-5", context_window=WINDOW)


def bound_tokens(body: dict[str, Any]) -> int:
    return input_bound_tokens(orjson.dumps(body), body, WINDOW)


@pytest.mark.parametrize(
    "item",
    [
        {"type": "item_reference", "id": "msg_1"},
        {"id": "msg_1"},  # an item reference's type is optional
        {"type": "reasoning", "id": "rs_1", "summary": []},  # its content is stored
        {"type": "image_generation_call", "id": "ig_1"},  # the image is stored
        {"type": "web_search_call", "id": "ws_1", "status": "completed"},  # results stored
        {"type": "file_search_call", "id": "fs_1", "queries": ["q"], "status": "completed"},
        {"type": "code_interpreter_call", "id": "ci_1", "code": "1", "status": "completed"},
        {"type": "brand_new_item", "id": "x_1"},  # unknown: assumed stored
    ],
)
def test_an_item_named_by_id_is_bounded_at_the_window(item: dict[str, Any]) -> None:
    assert bound_tokens({"model": "gpt-5", "input": [item]}) == WINDOW


@pytest.mark.parametrize(
    "item",
    [
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "hi"}],
        },
        {"id": "msg_1", "role": "user", "content": "hi"},
        {"type": "function_call", "id": "fc_1", "call_id": "c", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c", "output": "42"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"},
        {"type": "web_search_call", "action": {"type": "search"}},  # no id: nothing stored
    ],
)
def test_an_item_carried_whole_is_bounded_by_its_bytes(item: dict[str, Any]) -> None:
    body = {"model": "gpt-5", "input": [item]}
    assert bound_tokens(body) == len(orjson.dumps(body))


@pytest.mark.parametrize(
    "body",
    [
        {"input": "x", "previous_response_id": "resp_1"},
        {"input": "x", "conversation": {"id": "conv_1"}},
        {"input": "x", "prompt": {"id": "pmpt_1", "variables": {"a": "b"}}},
        {
            "input": [
                {"role": "user", "content": [{"type": "input_file", "file_url": "https://x/a.pdf"}]}
            ]
        },
        {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]},
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}
                    ],
                }
            ]
        },
        {
            "messages": [
                {"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}
            ]
        },
        {"messages": [{"role": "assistant", "audio": {"id": "audio_1"}}]},  # stored audio
    ],
)
def test_every_kind_of_reference_is_bounded_at_the_window(body: dict[str, Any]) -> None:
    assert bound_tokens({"model": "gpt-5", **body}) == WINDOW


def test_the_window_caps_what_a_body_carries_and_a_plain_chat_is_its_bytes() -> None:
    body = {"model": "gpt-5", "messages": [{"role": "user", "content": 'an id: "id" file"'}]}
    assert bound_tokens(body) == len(orjson.dumps(body))
    big = {"model": "gpt-5", "input": "x" * 500}
    assert input_bound_tokens(orjson.dumps(big), big, 100) == 100


def applied(tools: frozenset[str], calls: int | None) -> Applied:
    return Applied(100, "set", tools, calls, True, False, tiers=frozenset({"default"}))


def test_each_hosted_tool_call_adds_a_pass_over_the_window() -> None:
    body = {"model": "gpt-5", "input": "x" * 1000}
    raw = orjson.dumps(body)
    price = TABLE.price_for("gpt-5")
    assert price is not None

    def bound(tools: frozenset[str], calls: int | None) -> int:
        return admission_bound(Sizing(raw, body, MODEL, price, applied(tools, calls), TABLE))

    output = 100 * price.output  # type: ignore[operator]
    assert bound(frozenset(), None) == len(raw) * price.input + output
    # Web search: the body once, then a pass per search, each up to the window.
    searches = (len(raw) + 3 * WINDOW) * price.input + output + 3 * TABLE.tools["web_search"]
    assert bound(frozenset({"web_search"}), 3) == searches
    # MCP: the server's tool list is read before any call, so the first pass is the window.
    assert bound(frozenset({"mcp"}), 2) == 3 * WINDOW * price.input + output
