"""Credentials stay on their side: the client's JWT never goes up, the upstream key never comes down."""

from __future__ import annotations

import httpx
import openai
from harness import UPSTREAM_KEY, GatewayServer, config_dict, env_for_tests

from fake_openai import FakeOpenAIServer
from fake_openai.wire import RATE_LIMIT_REQUESTS


def test_client_credentials_and_org_headers_never_reach_the_upstream(
    gateway: GatewayServer, fake: FakeOpenAIServer
) -> None:
    jwt = gateway.token("alpha")
    resp = httpx.post(
        f"{gateway.base_url}/responses",
        headers={
            "Authorization": f"Bearer {jwt}",
            "OpenAI-Organization": "org-client",
            "OpenAI-Project": "proj-client",
            "Cookie": "session=abc",
            "Connection": "keep-alive, X-Hop",
            "X-Hop": "drop-me",
            "X-Stainless-Lang": "python",
        },
        json={"model": "gpt-5-nano", "input": "hello"},
    )
    assert resp.status_code == 200
    (sent,) = fake.requests
    assert sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    for name in ("openai-organization", "openai-project", "cookie", "x-hop"):
        assert name not in sent.headers
    assert sent.headers["x-stainless-lang"] == "python"
    assert jwt not in repr(sent.headers)
    assert jwt.encode() not in sent.body


def test_upstream_key_and_account_headers_never_reach_the_client(
    gateway: GatewayServer, fake: FakeOpenAIServer
) -> None:
    resp = httpx.post(
        f"{gateway.base_url}/responses",
        headers={"Authorization": f"Bearer {gateway.token('alpha')}"},
        json={"model": "gpt-5-nano", "input": "hello", "stream": True},
    )
    assert resp.status_code == 200
    everything = resp.text + repr(resp.headers)
    assert UPSTREAM_KEY not in everything
    assert UPSTREAM_KEY[-4:] not in repr(resp.headers)
    assert "openai-organization" not in resp.headers


def test_a_tenant_without_limits_of_its_own_sees_the_upstreams(gateway: GatewayServer) -> None:
    alpha = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token("alpha"))
    for stream in (False, True):
        raw = alpha.responses.with_raw_response.create(
            model="gpt-5-nano", input="hello", stream=stream
        )
        assert raw.headers["x-ratelimit-limit-requests"] == str(RATE_LIMIT_REQUESTS)
        assert raw.headers["x-ratelimit-remaining-tokens"].isdigit()


def test_upstream_refusing_the_gateway_key_is_a_502_without_the_key(
    fake_server: FakeOpenAIServer, db_url: str
) -> None:
    wrong_key = "sk-wrong-gateway-key-abcdef987654"
    env = env_for_tests() | {"TEST_UPSTREAM_KEY": wrong_key}
    with GatewayServer(config_dict(fake_server.base_url), env=env, database_url=db_url) as gw:
        resp = httpx.post(
            f"{gw.base_url}/responses",
            headers={"Authorization": f"Bearer {gw.token('alpha')}"},
            json={"model": "gpt-5-nano", "input": "hello"},
        )
    assert resp.status_code == 502
    assert resp.json()["error"]["code"] == "upstream_auth_failed"
    assert "7654" not in resp.text
    assert "sk-" not in resp.text
