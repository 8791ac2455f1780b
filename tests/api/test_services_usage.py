"""Services inside a tenant, end to end: the token's subject names the service in the
ledger (unlisted ones as "other"), usage groups and filters by it, its spend has a
metric of its own, and the live forecasts come with the usage when asked for."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import httpx
import openai
import pytest
from harness import GatewayServer, ledger_rows, tenants_gateway

from fake_openai import FakeOpenAIServer
from gateway.auth.mint import mint_token

TENANTS = {
    "team": {
        "models": ["*"],
        "budgets": {"daily_usd": 100},
        "services": {"known": {"search": {"budgets": {"daily_usd": 50}}, "ads": {}}},
    }
}


@pytest.fixture(scope="module")
def gw(fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:  # fmt: skip
    with tenants_gateway(fake_server.base_url, tmp_path_factory, TENANTS, "services") as server:
        yield server


def token(gw: GatewayServer, subject: str, tenant: str = "team", admin: bool = False) -> str:
    assert gw.runtime.hs_secret is not None
    return mint_token(
        gw.runtime.auth, gw.runtime.hs_secret, tenant, admin=admin, ttl_s=600, subject=subject
    )


def call(gw: GatewayServer, subject: str, tenant: str = "team") -> str:
    client = openai.OpenAI(
        base_url=gw.base_url, api_key=token(gw, subject, tenant), max_retries=0, timeout=10
    )
    raw = client.responses.with_raw_response.create(model="gpt-5-nano", input="hi")
    return raw.headers["x-gateway-request-id"]


@pytest.fixture(scope="module")
def calls(gw: GatewayServer) -> dict[str, str]:
    """request id -> who made it: two by search, one by a service not listed, one elsewhere."""
    made = {
        call(gw, "search"): "search",
        call(gw, "search"): "search",
        call(gw, "nightly-batch"): "nightly-batch",
        call(gw, "alpha-svc", tenant="alpha"): "alpha",
    }
    ledger_rows(gw.database_url, at_least=len(made))
    return made


def test_the_ledger_names_a_listed_service_and_groups_the_rest_as_other(
    gw: GatewayServer, calls: dict[str, str]
) -> None:
    rows = {r["request_id"]: r for r in ledger_rows(gw.database_url, at_least=len(calls))}
    assert {rows[rid]["service"] for rid, who in calls.items() if who == "search"} == {"search"}
    [unlisted] = [rid for rid, who in calls.items() if who == "nightly-batch"]
    assert (rows[unlisted]["service"], rows[unlisted]["subject"]) == ("other", "nightly-batch")
    [alpha] = [rid for rid, who in calls.items() if who == "alpha"]
    assert rows[alpha]["service"] is None  # alpha has no services configured


def test_usage_groups_and_filters_by_service(gw: GatewayServer, calls: dict[str, str]) -> None:
    mine = httpx.get(
        f"{gw.root}/v1/gateway/usage",
        params={"group_by": "service"},
        headers={"Authorization": f"Bearer {token(gw, 'search')}"},
    )
    assert mine.status_code == 200
    assert [(g["service"], g["requests"]) for g in mine.json()["data"]] == [
        ("other", 1),
        ("search", 2),
    ]
    only = httpx.get(
        f"{gw.root}/v1/gateway/usage",
        params={"group_by": "service", "service": "other"},
        headers={"Authorization": f"Bearer {token(gw, 'search')}"},
    ).json()["data"]
    assert [(g["service"], g["requests"]) for g in only] == [("other", 1)]
    admin = httpx.get(
        f"{gw.root}/admin/usage",
        params={"group_by": "tenant,service", "tenant": "alpha"},
        headers={"Authorization": f"Bearer {token(gw, 'ops', 'alpha', admin=True)}"},
    ).json()["data"]
    assert [(g["tenant"], "service" in g, g["requests"]) for g in admin] == [("alpha", False, 1)]
    as_csv = httpx.get(
        f"{gw.root}/admin/usage",
        params={"group_by": "tenant,service", "format": "csv"},
        headers={"Authorization": f"Bearer {token(gw, 'ops', 'alpha', admin=True)}"},
    )
    table = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["tenant"], r["service"], r["requests"]) for r in table] == [
        ("alpha", "", "1"),  # no service: an empty cell, like a call without a route
        ("team", "other", "1"),
        ("team", "search", "2"),
    ]


def test_service_spend_has_a_bounded_metric(gw: GatewayServer, calls: dict[str, str]) -> None:
    text = httpx.get(gw.metrics_url).text
    lines = [
        line for line in text.splitlines() if line.startswith("gateway_service_cost_usd_total{")
    ]
    labels = {line.split("}")[0] + "}" for line in lines}
    assert labels == {
        'gateway_service_cost_usd_total{service="other",tenant="team"}',
        'gateway_service_cost_usd_total{service="search",tenant="team"}',
    }
    assert all(float(line.split()[-1]) > 0 for line in lines)


def test_usage_brings_the_callers_own_forecasts_when_asked(
    gw: GatewayServer, calls: dict[str, str]
) -> None:
    gw.on_loop(lambda: gw.app.services.forecasts.refresh())  # the minute's refresh, now
    mine = httpx.get(
        f"{gw.root}/v1/gateway/usage",
        params={"forecast": "true"},
        headers={"Authorization": f"Bearer {token(gw, 'search')}"},
    ).json()
    forecasts = {f["scope"]: f for f in mine["forecast"]}
    # ads is listed but has neither spend nor a budget: nothing to forecast
    assert set(forecasts) == {"tenant", "service:search", "service:other"}
    assert {f["tenant"] for f in mine["forecast"]} == {"team"}  # only the caller's tenant
    search = forecasts["service:search"]
    assert [(b["window"], b["limit_usd"]) for b in search["budgets"]] == [("day", "50.000000")]
    assert float(search["spent_today_usd"]) > 0
    assert float(search["projected_day_usd"]) >= float(search["spent_today_usd"])
    assert (
        "forecast"
        not in httpx.get(
            f"{gw.root}/v1/gateway/usage",
            headers={"Authorization": f"Bearer {token(gw, 'search')}"},
        ).json()
    )
    admin = httpx.get(
        f"{gw.root}/admin/usage",
        params={"forecast": "true", "service": "search"},
        headers={"Authorization": f"Bearer {token(gw, 'ops', 'alpha', admin=True)}"},
    ).json()
    assert [(f["tenant"], f["scope"]) for f in admin["forecast"]] == [("team", "service:search")]
    refused = httpx.get(
        f"{gw.root}/admin/usage",
        params={"forecast": "true", "format": "csv"},
        headers={"Authorization": f"Bearer {token(gw, 'ops', 'alpha', admin=True)}"},
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "forecast"
