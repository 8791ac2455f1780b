"""Output caps, OpenAI-specific policy, rate limits and metering, through the official SDK."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import openai
import pytest
from harness import GatewayServer, config_dict, ledger_row, merged
from openai import omit
from poll import eventually_sync

from fake_openai import FakeOpenAIServer
from gateway.pricing import load_pricing

PRICES = load_pricing(Path(__file__).resolve().parents[2] / "config" / "pricing.yaml")

TENANTS = {
    "capped": {
        "max_output_tokens": 64,
        "max_output_tokens_by_model": {"gpt-4.1": 32},
        "store": False,
        "tools": ["file_search"],
        "service_tiers": ["auto", "default", "flex"],
        "prompt_cache_key": "tenant",
    },
    "rejecter": {"output_cap_mode": "reject", "max_output_tokens": 64},
    "limited": {"limits": {"rpm": 600, "tpm": 1000000}},
    "tiny": {"limits": {"rpm": 2}},
    "nocache": {},  # prompt_cache_key is off unless a tenant turns it on
}
EXTRA_MODELS: dict[str, dict[str, object]] = {
    "mystery": {}
}  # a model the price table does not know


@pytest.fixture(scope="module")
def gw(
    fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    db = tmp_path_factory.mktemp("cost") / "gateway.db"
    config = merged(config_dict(fake_server.base_url, tenants=TENANTS), {"models": EXTRA_MODELS})
    with GatewayServer(config, database_url=f"sqlite:///{db}") as server:
        yield server


def sdk(gw: GatewayServer, tenant: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=gw.token(tenant), max_retries=0)


@pytest.mark.parametrize(
    ("asked", "model", "header", "sent"),
    [
        (None, "gpt-5-nano", "set; limit=64", 64),
        (1000, "gpt-5-nano", "clamped; limit=64", 64),
        (10, "gpt-5-nano", "kept; limit=10", 10),
        (None, "gpt-4.1", "set; limit=32", 32),
    ],
)
def test_output_cap(
    asked: int | None, model: str, header: str, sent: int, gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    raw = sdk(gw, "capped").responses.with_raw_response.create(
        model=model, input="hi", max_output_tokens=asked if asked else omit
    )
    assert raw.headers["x-gateway-output-cap"] == header
    assert fake.requests[-1].json()["max_output_tokens"] == sent


def test_chat_cap_clamps_the_field_the_client_used(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    client = sdk(gw, "capped")
    client.chat.completions.create(
        model="gpt-5-nano", messages=[{"role": "user", "content": "x"}], max_tokens=500
    )
    body = fake.requests[-1].json()
    assert body["max_tokens"] == 64
    assert "max_completion_tokens" not in body
    client.chat.completions.create(model="gpt-5-nano", messages=[{"role": "user", "content": "x"}])
    assert fake.requests[-1].json()["max_completion_tokens"] == 64


def test_reject_mode_refuses_a_request_above_the_cap(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        sdk(gw, "rejecter").responses.create(model="gpt-5-nano", input="x", max_output_tokens=65)
    assert err.value.code == "output_cap_exceeded"
    assert fake.requests == []


def test_store_is_forced_off_and_a_tenant_cache_key_is_set(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    sdk(gw, "capped").responses.create(model="gpt-5-nano", input="x", store=True)
    body = fake.requests[-1].json()
    assert body["store"] is False
    assert body["prompt_cache_key"] == "tenant:capped"
    sdk(gw, "capped").responses.create(model="gpt-5-nano", input="x", prompt_cache_key="mine")
    assert fake.requests[-1].json()["prompt_cache_key"] == "mine"
    sdk(gw, "nocache").responses.create(model="gpt-5-nano", input="x")
    assert "prompt_cache_key" not in fake.requests[-1].json()


def test_hosted_tools_allow_list(gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    client = sdk(gw, "capped")
    with pytest.raises(openai.PermissionDeniedError) as err:
        client.responses.create(model="gpt-5-nano", input="x", tools=[{"type": "web_search"}])
    assert err.value.code == "tool_not_allowed"
    assert "web_search" in err.value.message
    assert fake.requests == []
    store = client.vector_stores.create(name="kb")  # a store of the tenant's own
    client.responses.create(
        model="gpt-5-nano",
        input="x",
        tools=[
            {"type": "file_search", "vector_store_ids": [store.id]},
            # as a client may send it (the SDK's type also wants "strict")
            {"type": "function", "name": "f", "parameters": {"type": "object"}},  # type: ignore[list-item]
        ],
    )
    assert fake.requests[-1].json()["max_tool_calls"] == 8


def test_service_tier_allow_list(gw: GatewayServer) -> None:
    client = sdk(gw, "capped")
    with pytest.raises(openai.PermissionDeniedError) as err:
        client.responses.create(model="gpt-5-nano", input="x", service_tier="priority")
    assert err.value.code == "service_tier_not_allowed"
    assert client.responses.create(model="gpt-5-nano", input="x", service_tier="flex").service_tier


def test_unpriced_model_is_refused(gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    with pytest.raises(openai.PermissionDeniedError) as err:
        sdk(gw, "alpha").responses.create(model="mystery", input="x")
    assert err.value.code == "model_not_priced"
    assert fake.requests == []


def test_rate_limit_headers_decrease_and_reset(gw: GatewayServer) -> None:
    client = sdk(gw, "limited")
    remaining = []
    for _ in range(3):
        raw = client.responses.with_raw_response.create(model="gpt-5-nano", input="x")
        remaining.append(int(raw.headers["x-ratelimit-remaining-requests"]))
        assert raw.headers["x-ratelimit-limit-requests"] == "600"
        assert int(raw.headers["x-ratelimit-remaining-tokens"]) < 1_000_000
    assert remaining[0] > remaining[1] > remaining[2]

    def refilled() -> bool:  # 600 rpm refill 10 per second: the gateway's own clock
        raw = client.responses.with_raw_response.create(model="gpt-5-nano", input="x")
        return int(raw.headers["x-ratelimit-remaining-requests"]) > remaining[2]

    eventually_sync(refilled, 5, 0.2, what="the bucket refilled")


def test_rpm_exceeded_is_a_429_with_retry_after(gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    client = sdk(gw, "tiny")
    client.responses.create(model="gpt-5-nano", input="x")
    client.responses.create(model="gpt-5-nano", input="x")
    with pytest.raises(openai.RateLimitError) as err:
        client.responses.create(model="gpt-5-nano", input="x")
    assert err.value.code == "rate_limit_exceeded"
    assert int(err.value.response.headers["retry-after"]) >= 1
    assert err.value.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert len(fake.requests) == 2


def _priced(row: dict[str, object], model: str) -> int:
    price = PRICES.price_for(model)
    assert price is not None
    return (
        int(str(row["input_tokens"])) * price.input
        + int(str(row["cached_input_tokens"])) * price.cached_input
        + int(str(row["output_tokens"])) * (price.output or 0)
    )


def test_every_call_is_metered_with_the_usage_the_client_saw(gw: GatewayServer) -> None:
    client = sdk(gw, "alpha")
    json_resp = client.responses.create(model="gpt-5-mini", input="one two three four five six")
    with client.responses.stream(model="gpt-5-mini", input="one two three four five six") as s:
        streamed = s.get_final_response()
    rows = [ledger_row(gw.database_url, response_id=r.id) for r in (json_resp, streamed)]
    for row, resp in zip(rows, (json_resp, streamed), strict=True):
        assert resp.usage is not None
        assert row["cached_input_tokens"] == resp.usage.input_tokens_details.cached_tokens
        assert int(row["input_tokens"]) + int(row["cached_input_tokens"]) == resp.usage.input_tokens  # type: ignore[call-overload]
        assert row["output_tokens"] == resp.usage.output_tokens
        assert row["reasoning_tokens"] == resp.usage.output_tokens_details.reasoning_tokens
        assert row["cost_nanos"] == _priced(row, "gpt-5-mini")
        assert row["estimated"] in (0, False)
    # The second call repeats the prompt with the tenant's cache key: the fake reports cached
    # tokens, priced at the cached rate — in a stream too.
    assert int(rows[1]["cached_input_tokens"]) > 0  # type: ignore[call-overload]
    assert rows[1]["stream"] in (1, True)


def test_chat_stream_usage_is_metered_without_the_client_seeing_the_extra_chunk(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    client = sdk(gw, "alpha")
    chunks = list(
        client.chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "a b c"}], stream=True
        )
    )
    assert fake.requests[-1].json()["stream_options"] == {"include_usage": True}
    assert all(c.choices for c in chunks), "the gateway's usage chunk leaked to the client"
    row = ledger_row(gw.database_url, response_id=chunks[0].id)
    assert int(row["output_tokens"]) > 0  # type: ignore[call-overload]
    assert row["cost_nanos"] == _priced(row, "gpt-4.1")
    assert row["estimated"] in (0, False)


def test_failed_attempts_are_in_the_ledger_at_no_cost(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    from fake_openai import Fault

    fake.inject(Fault(path="/v1/responses", status=500))
    with pytest.raises(openai.InternalServerError) as err:
        sdk(gw, "alpha").responses.create(model="gpt-5-nano", input="x")
    request_id = err.value.response.headers["x-gateway-request-id"]
    row = ledger_row(gw.database_url, request_id=request_id)
    assert (row["status"], row["outcome"], row["cost_nanos"]) == (500, "upstream_error", 0)


def test_usage_endpoints(gw: GatewayServer) -> None:
    sdk(gw, "beta").responses.create(model="gpt-5-nano", input="count me")
    sdk(gw, "alpha").responses.create(model="gpt-5-nano", input="and me")
    mine = httpx.get(
        f"{gw.root}/v1/gateway/usage", headers={"Authorization": f"Bearer {gw.token('beta')}"}
    ).json()
    assert mine["tenant"] == "beta"
    assert {r["model"] for r in mine["data"]} == {"gpt-5-nano"}
    assert all("tenant" not in r for r in mine["data"])
    assert sum(r["requests"] for r in mine["data"]) >= 1
    denied = httpx.get(
        f"{gw.root}/admin/usage", headers={"Authorization": f"Bearer {gw.token('beta')}"}
    )
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "admin_required"
    admin = httpx.get(
        f"{gw.root}/admin/usage",
        params={"group_by": "tenant"},
        headers={"Authorization": f"Bearer {gw.token('alpha', admin=True)}"},
    ).json()
    assert {"alpha", "beta"} <= {r["tenant"] for r in admin["data"]}
    assert all(r["attempts"] >= r["requests"] >= 1 for r in admin["data"])
    as_csv = httpx.get(
        f"{gw.root}/admin/usage",
        params={"group_by": "tenant,subject", "format": "csv", "tenant": "beta"},
        headers={"Authorization": f"Bearer {gw.token('alpha', admin=True)}"},
    )
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    [csv_row] = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert (csv_row["tenant"], csv_row["day"], csv_row["model"]) == ("beta", "", "")
    assert csv_row["subject"]  # the token's subject: the calling service
    assert int(csv_row["requests"]) >= 1
    assert Decimal(csv_row["cost_usd"]) > 0
    bad = httpx.get(
        f"{gw.root}/admin/usage",
        params={"group_by": "planet"},
        headers={"Authorization": f"Bearer {gw.token('alpha', admin=True)}"},
    )
    assert bad.status_code == 400
    for path, params in (
        ("/v1/gateway/usage", {"tenant": "alpha"}),  # a tenant cannot ask for another's
        ("/admin/usage", {"grup_by": "tenant"}),  # a typo must not widen the report silently
    ):
        typo = httpx.get(
            f"{gw.root}{path}",
            params=params,
            headers={"Authorization": f"Bearer {gw.token('beta', admin=True)}"},
        )
        assert typo.status_code == 400
        assert typo.json()["error"]["code"] == "unknown_parameter"
        assert typo.json()["error"]["param"] == next(iter(params))
