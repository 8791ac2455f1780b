"""Stream fidelity: the same request sent straight to the fake upstream and through the gateway
gets the same SSE bytes, apart from ids, timestamps and the per-delta ``obfuscation`` padding
(random by design), and the same content type. Compared as bytes, not parsed: a client that
reads the wire (or checks a field's presence) sees exactly this."""

from __future__ import annotations

import re

import httpx
from harness import UPSTREAM_KEY, GatewayServer

from fake_openai import FakeOpenAIServer

_VARIABLE = [
    (re.compile(rb"\b(resp|msg|rs|fc|call|chatcmpl|req)([-_])[A-Za-z0-9]+"), rb"\1\2ID"),
    (re.compile(rb'"(created_at|created|completed_at)":\d+'), rb'"\1":TIME'),
    (re.compile(rb'"obfuscation":"[^"]*"'), rb'"obfuscation":"PAD"'),
]


def normalised(body: bytes) -> bytes:
    for pattern, replacement in _VARIABLE:
        body = pattern.sub(replacement, body)
    return body


def both(
    gw: GatewayServer, fake: FakeOpenAIServer, path: str, body: dict[str, object]
) -> tuple[httpx.Response, httpx.Response]:
    """``body`` POSTed to ``path`` straight at the fake and through the gateway, each to a
    fresh fake (so neither finds the other's prompt in the fake's cache)."""
    direct = httpx.post(
        fake.base_url + path, json=body, headers={"authorization": f"Bearer {UPSTREAM_KEY}"}
    )
    fake.clear()
    proxied = httpx.post(
        gw.base_url + path, json=body, headers={"authorization": f"Bearer {gw.token()}"}
    )
    assert direct.status_code == proxied.status_code == 200, (direct.text, proxied.text)
    return direct, proxied


def assert_same_stream(direct: httpx.Response, proxied: httpx.Response) -> None:
    assert proxied.headers["content-type"] == direct.headers["content-type"]
    assert normalised(proxied.content) == normalised(direct.content)


def test_responses_stream(client_gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    # A client that sets its own cap and cache key: the gateway keeps both.
    body = {
        "model": "gpt-5-mini",
        "input": "fidelity of bytes",
        "stream": True,
        "max_output_tokens": 900,
        "prompt_cache_key": "my-key",
    }
    assert_same_stream(*both(client_gw, fake, "/responses", body))


def test_responses_stream_of_a_client_that_sets_nothing(
    client_gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    body = {"model": "gpt-5-mini", "input": "fidelity without a cap", "stream": True}
    assert_same_stream(*both(client_gw, fake, "/responses", body))


def test_chat_stream_with_usage(client_gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    body = {
        "model": "gpt-4.1",
        "messages": [{"role": "user", "content": "fidelity with usage"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert_same_stream(*both(client_gw, fake, "/chat/completions", body))


def test_chat_stream_without_usage(client_gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    body = {
        "model": "gpt-4.1",
        "messages": [{"role": "user", "content": "fidelity without usage"}],
        "stream": True,
    }
    assert_same_stream(*both(client_gw, fake, "/chat/completions", body))
