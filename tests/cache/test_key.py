"""What may be cached and the key it is kept under: canonical, per tenant, whole body."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.cache.key import CHAT, RESPONSES, cache_key, refusal

BODY: dict[str, Any] = {
    "model": "gpt-5-nano",
    "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
    "store": False,
    "temperature": 0.7,
    "metadata": {"b": "2", "a": "1"},
}


def test_the_key_ignores_key_order_but_not_the_tenant_endpoint_model_or_any_field() -> None:
    reordered = {k: BODY[k] for k in reversed(BODY)} | {"metadata": {"a": "1", "b": "2"}}
    base = cache_key("alpha", RESPONSES, "gpt-5-nano", BODY)
    assert cache_key("alpha", RESPONSES, "gpt-5-nano", reordered) == base
    assert len(base) == 32
    others = {
        cache_key("beta", RESPONSES, "gpt-5-nano", BODY),
        cache_key("alpha", CHAT, "gpt-5-nano", BODY),
        cache_key("alpha", RESPONSES, "small", BODY),
        cache_key("alpha", RESPONSES, "gpt-5-nano", BODY | {"metadata": {"a": "1"}}),
        cache_key("alpha", RESPONSES, "gpt-5-nano", BODY | {"stream": True}),
    }
    assert base not in others
    assert len(others) == 5
    # The separator keeps a tenant's name from sliding into the endpoint's.
    assert cache_key("a", "bresponses", "m", BODY) != cache_key("ab", "responses", "m", BODY)


@pytest.mark.parametrize(
    ("endpoint", "patch", "forced", "reason"),
    [
        (RESPONSES, {}, False, None),
        (RESPONSES, {"store": None}, False, "store"),  # absent: the API stores by default
        (RESPONSES, {"store": True}, False, "store"),
        (RESPONSES, {"store": True}, True, None),  # the tenant forces store:false upstream
        (RESPONSES, {"background": True}, True, "stateful"),
        (RESPONSES, {"previous_response_id": "resp_1"}, False, "stateful"),
        (RESPONSES, {"conversation": "conv_1"}, False, "stateful"),
        (RESPONSES, {"prompt": {"id": "pmpt_1"}}, False, "stateful"),
        (RESPONSES, {"tools": [{"type": "web_search"}]}, False, "hosted_tool"),
        (RESPONSES, {"tools": [{"type": "function", "name": "f"}]}, False, None),
        ("embeddings", {}, False, "endpoint"),
        ("realtime", {}, False, "endpoint"),
    ],
)
def test_what_refuses_a_responses_request(
    endpoint: str, patch: dict[str, Any], forced: bool, reason: str | None
) -> None:
    body = {k: v for k, v in (BODY | patch).items() if v is not None}
    assert refusal(endpoint, body, forced) == reason


def test_resources_by_url_are_refused_and_inline_data_is_not() -> None:
    def chat(part: dict[str, Any]) -> dict[str, Any]:
        return {"model": "m", "messages": [{"role": "user", "content": [part]}]}

    by_url = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    inline = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    assert refusal(CHAT, chat(by_url), False) == "url"
    assert refusal(CHAT, chat(inline), False) is None
    assert refusal(CHAT, chat(inline) | {"store": True}, False) == "store"
    file_part = {"type": "input_file", "file_url": "http://example.com/a.pdf"}
    responses = BODY | {"input": [{"role": "user", "content": [file_part]}]}
    assert refusal(RESPONSES, responses, False) == "url"
    assert refusal(RESPONSES, BODY | {"input": "see https://example.com"}, False) is None
