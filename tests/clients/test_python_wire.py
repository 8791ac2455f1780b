"""What the Python SDK reads besides the answer: models, request ids, rate-limit headers and
OpenAI's answer to an unknown URL, through the gateway."""

from __future__ import annotations

import httpx
import openai
import pytest
from harness import UPSTREAM_KEY, GatewayServer

from fake_openai import FakeOpenAIServer


def sdk(gw: GatewayServer, tenant: str = "alpha") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=gw.token(tenant), max_retries=0)


def test_models_are_the_tenants(client_gw: GatewayServer) -> None:
    assert [m.id for m in sdk(client_gw, "beta").models.list()] == ["gpt-5-nano"]
    model = sdk(client_gw, "beta").models.retrieve("gpt-5-nano")
    assert (model.id, model.object) == ("gpt-5-nano", "model")
    for name in ("gpt-4.1", "no-such-model"):  # not the tenant's, or nobody's: the same 404
        with pytest.raises(openai.NotFoundError) as caught:
            sdk(client_gw, "beta").models.retrieve(name)
        assert (caught.value.code, caught.value.param) == ("model_not_found", "model")


def test_models_owned_by(client_gw: GatewayServer) -> None:
    owners = {m.id: m.owned_by for m in sdk(client_gw).models.list()}
    assert owners["gpt-5-nano"] == "openai"
    assert owners["small"] != "openai"  # an alias of the gateway's


def test_unknown_path_is_openais_404(client_gw: GatewayServer) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        sdk(client_gw).post("/no/such/path", body={}, cast_to=httpx.Response)
    assert caught.value.body == {
        "message": "Invalid URL (POST /v1/no/such/path)",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert caught.value.request_id is not None


def test_gateway_refusals_carry_a_request_id(client_gw: GatewayServer) -> None:
    bad = openai.OpenAI(base_url=client_gw.base_url, api_key="not-a-jwt", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.models.list()
    assert caught.value.request_id is not None


def test_a_tenants_own_limits_are_its_rate_limit_headers(client_gw: GatewayServer) -> None:
    raw = sdk(client_gw, "paced").responses.with_raw_response.create(
        model="gpt-5-nano", input="limits"
    )
    assert raw.headers["x-ratelimit-limit-requests"] == "100"
    assert int(raw.headers["x-ratelimit-remaining-requests"]) < 100


def test_upstream_rate_limit_headers_reach_a_tenant_without_limits(
    client_gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    direct = httpx.post(
        fake.base_url + "/responses",
        json={"model": "gpt-5-nano", "input": "limits"},
        headers={"authorization": f"Bearer {UPSTREAM_KEY}"},
    )
    assert direct.headers["x-ratelimit-limit-requests"] == "10000"
    raw = sdk(client_gw).responses.with_raw_response.create(model="gpt-5-nano", input="limits")
    assert raw.headers["x-ratelimit-limit-requests"] == "10000"
