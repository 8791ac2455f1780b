"""/metrics: what the gateway counts agrees with the ledger, labels stay bounded, no secrets."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
from harness import UPSTREAM_KEY, GatewayServer, config_dict, ledger_row, metric_value

from fake_openai import FakeOpenAIServer, Fault

TENANTS = {"spender": {"models": ["*"], "budgets": {"daily_usd": 5}}}


@pytest.fixture
def gw(fake_server: FakeOpenAIServer, db_url: str) -> Iterator[GatewayServer]:
    with GatewayServer(
        config_dict(fake_server.base_url, tenants=TENANTS, defaults=True), database_url=db_url
    ) as g:
        yield g


def test_requests_tokens_spend_and_budget_are_counted(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.token("spender"), max_retries=0)
    raw = client.responses.with_raw_response.create(model="gpt-5-nano", input="count this")
    resp = raw.parse()
    row = ledger_row(gw.database_url, request_id=raw.headers["x-gateway-request-id"])
    labels = {"tenant": "spender", "model": "gpt-5-nano"}
    assert (
        metric_value(
            gw, "gateway_requests_total", status_class="2xx", endpoint="responses", **labels
        )
        == 1
    )
    assert resp.usage is not None
    assert (
        metric_value(gw, "gateway_tokens_total", kind="output", **labels)
        == resp.usage.output_tokens
    )
    assert metric_value(gw, "gateway_spend_usd_total", **labels) == pytest.approx(
        int(row["cost_nanos"]) / 1e9  # type: ignore[call-overload]
    )
    remaining = metric_value(
        gw, "gateway_budget_remaining_usd", tenant="spender", window="day", model="_all"
    )
    assert remaining == pytest.approx(5 - int(row["cost_nanos"]) / 1e9)  # type: ignore[call-overload]
    assert metric_value(gw, "gateway_overhead_seconds_count", endpoint="responses") >= 1


def test_rejections_upstream_errors_and_bounded_tenant_labels(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    stranger = openai.OpenAI(base_url=gw.base_url, api_key=gw.token("some-team-123"), max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        stranger.responses.create(model="gpt-4.1", input="x")
    assert (
        metric_value(gw, "gateway_rejections_total", tenant="_default", reason="model_not_allowed")
        == 1
    )
    fake.inject(Fault(path="/v1/responses", status=503))
    with pytest.raises(openai.InternalServerError):
        stranger.responses.create(model="gpt-5-nano", input="x")
    assert metric_value(gw, "gateway_upstream_errors_total", kind="status_5xx") == 1
    text = httpx.get(gw.metrics_url).text
    assert "some-team-123" not in text, "unlisted tenants share one label"
    assert UPSTREAM_KEY not in text
    assert gw.token("spender") not in text
