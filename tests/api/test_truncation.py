"""An answer ended by an output cap the gateway set is said to be: header, access log, metric."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import openai
import pytest
from harness import GatewayServer, access_lines, config_dict, metric_value

from fake_openai import FakeOpenAIServer

TENANTS = {"capped": {"models": ["*"], "max_output_tokens": 3}}
LONG = "tell me everything about the sea and the wind and the long grey sky"


@pytest.fixture
def gw(fake: FakeOpenAIServer, db_url: str) -> Iterator[GatewayServer]:
    with GatewayServer(config_dict(fake.base_url, tenants=TENANTS), database_url=db_url) as g:
        yield g


def test_a_cap_the_gateway_set_that_ends_an_answer_is_said(
    gw: GatewayServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.token("capped"), max_retries=0)
    raw = client.responses.with_raw_response.create(model="gpt-5-nano", input=LONG)
    assert raw.parse().status == "incomplete"
    assert raw.headers["x-gateway-output-cap"] == "set; limit=3"
    assert raw.headers["x-gateway-truncated"] == "output_cap"
    (line,) = access_lines(caplog, raw.headers["x-gateway-request-id"])
    assert line["truncated_by_cap"] is True
    labels = {"tenant": "capped", "model": "gpt-5-nano", "endpoint": "responses"}
    assert metric_value(gw, "gateway_truncated_by_cap_total", **labels) == 1
    events = list(client.responses.create(model="gpt-5-nano", input=LONG, stream=True))
    assert events[-1].type == "response.incomplete"  # a stream's headers went first
    assert metric_value(gw, "gateway_truncated_by_cap_total", **labels) == 2


def test_a_limit_the_client_asked_for_is_not_the_gateways_doing(
    gw: GatewayServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.token("capped"), max_retries=0)
    raw = client.responses.with_raw_response.create(
        model="gpt-5-nano", input=LONG, max_output_tokens=2
    )
    assert raw.parse().status == "incomplete"
    assert raw.headers["x-gateway-output-cap"] == "kept; limit=2"
    assert "x-gateway-truncated" not in raw.headers
    (line,) = access_lines(caplog, raw.headers["x-gateway-request-id"])
    assert line["truncated_by_cap"] is False
