"""Services inside a tenant, end to end through the official SDK: the token's claim names the
service, its own limits and budgets refuse it alone, tag budgets refuse the tagged calls,
and an unlisted service is grouped (or refused, as the tenant says)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from harness import GatewayServer, config_dict, tenants_gateway

from fake_openai import FakeOpenAIServer
from gateway.auth import mint_token

TENANTS = {
    "team": {
        "models": ["*"],
        "budgets": {"daily_usd": 100},
        "tags": {"keys": ["feature"], "budgets": {"feature=search": {"daily_usd": 0.000001}}},
        "services": {
            "known": {
                "indexer": {"limits": {"rpm": 1}},
                "reports": {"budgets": {"daily_usd": 0.000001}},
                "web": {},
            }
        },
    },
    "strict": {
        "models": ["*"],
        "services": {"claim": "azp", "unlisted": "refuse", "known": {"web": {}}},
    },
}


@pytest.fixture(scope="module")
def gw(fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:  # fmt: skip
    with tenants_gateway(fake_server.base_url, tmp_path_factory, TENANTS, "services") as server:
        yield server


def sdk(gw: GatewayServer, tenant: str, subject: str, **claims: str) -> openai.OpenAI:
    assert gw.runtime.hs_secret is not None
    token = mint_token(
        gw.runtime.auth, gw.runtime.hs_secret, tenant, admin=False, ttl_s=600, subject=subject,
        extra=claims,
    )  # fmt: skip
    return openai.OpenAI(base_url=gw.base_url, api_key=token, max_retries=0, timeout=10)


def ask(client: openai.OpenAI, **kw: object) -> None:
    client.responses.create(model="gpt-5-nano", input="hi", **kw)  # type: ignore[call-overload]


def test_a_services_rpm_refuses_that_service_only(gw: GatewayServer) -> None:
    indexer = sdk(gw, "team", "indexer")
    ask(indexer)
    with pytest.raises(openai.RateLimitError) as err:
        ask(indexer)
    assert "service 'indexer' of tenant 'team'" in err.value.message
    ask(sdk(gw, "team", "web"))  # the tenant and its other services are not limited


def test_a_service_budget_and_a_tag_budget_refuse_their_calls(gw: GatewayServer) -> None:
    with pytest.raises(openai.RateLimitError) as err:
        ask(sdk(gw, "team", "reports"))
    assert err.value.code == "budget_exceeded"
    assert "budget for service 'reports'" in err.value.message
    web = sdk(gw, "team", "web")
    with pytest.raises(openai.RateLimitError) as err:
        ask(web, extra_headers={"x-gateway-tags": "feature=search"})
    assert "budget for the tag feature=search" in err.value.message
    ask(web, extra_headers={"x-gateway-tags": "feature=chat"})


def test_unlisted_services_are_grouped_or_refused_as_configured(gw: GatewayServer) -> None:
    ask(sdk(gw, "team", "a-new-cron-job"))  # grouped as "other": no limits of its own
    ask(sdk(gw, "strict", "anyone", azp="web"))  # the tenant's claim is azp, not sub
    with pytest.raises(openai.PermissionDeniedError) as err:
        ask(sdk(gw, "strict", "web", azp="batch"))
    assert err.value.code == "unknown_service"
    assert "'batch'" in err.value.message


def test_service_and_tag_spend_still_counts_after_a_restart(
    fake_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    tenants = {
        "seeded": {
            "models": ["*"],
            "max_output_tokens": 200,  # a bound of about $0.00017: a few calls fit $0.0002
            "budgets": {"daily_usd": 100},
            "tags": {"keys": ["feature"], "budgets": {"feature=search": {"daily_usd": 0.0002}}},
            "services": {"known": {"indexer": {"budgets": {"daily_usd": 0.0002}}}},
        }
    }
    config = config_dict(fake_server.base_url, tenants=tenants)
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    search = {"extra_headers": {"x-gateway-tags": "feature=search"}}
    with GatewayServer(config, database_url=url) as first:
        indexer, web = sdk(first, "seeded", "indexer"), sdk(first, "seeded", "web")
        for client, kw in ((indexer, {}), (web, search)):  # until each budget refuses
            served = 0
            with pytest.raises(openai.RateLimitError) as err:
                for _ in range(100):
                    ask(client, **kw)
                    served += 1
            assert served >= 2, err.value.message
    with GatewayServer(config, database_url=url) as second:
        with pytest.raises(openai.RateLimitError) as err:
            ask(sdk(second, "seeded", "indexer"))
        assert "budget for service 'indexer'" in err.value.message
        with pytest.raises(openai.RateLimitError) as err:
            ask(sdk(second, "seeded", "web"), **search)
        assert "budget for the tag feature=search" in err.value.message
        ask(sdk(second, "seeded", "web"))  # the tenant's own budget has room


def test_the_usage_api_lists_every_budget_with_its_scope(gw: GatewayServer) -> None:
    token = gw.token("team")
    body = httpx.get(
        f"{gw.root}/v1/gateway/usage", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert [(b["scope"], b["name"], b["window"]) for b in body["budgets"]] == [
        ("tenant", None, "day"),
        ("service", "reports", "day"),
        ("tag", "feature=search", "day"),
    ]
