"""A metered call: admitted with its bound held, settled exactly once however the attempt ends."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from gateway.auth import Principal
from gateway.auth.callers import Caller
from gateway.config import compile_config, parse_config
from gateway.db import make_engine
from gateway.errors import BudgetExceeded, UpstreamError
from gateway.metering.outcome import Measured, estimated
from gateway.metering.usage import Usage
from gateway.pipeline.attempt import Attempt
from gateway.pipeline.context import RequestContext
from gateway.pipeline.prepare import Prepared, for_model
from gateway.pricing.table import load_pricing
from gateway.routing import NO_FEATURES, plan
from gateway.services import Services
from gateway.shapes.responses import RESPONSES

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """
models: {gpt-5-nano: {}}
tenants:
  team: {models: ["*"], max_output_tokens: 100, budgets: {daily_usd: 1}}
  broke: {models: ["*"], budgets: {daily_usd: 0.000001}}
"""
USED = Usage(input_tokens=10, output_tokens=20)


@pytest.fixture
def services(tmp_path: Path) -> Services:
    pricing = load_pricing(ROOT / "config/pricing.yaml")
    config = compile_config(parse_config(CONFIG), {}, pricing=pricing)
    return Services(config, make_engine(f"sqlite:///{tmp_path}/ledger.db"))


def prepared(services: Services, tenant: str = "team") -> Prepared:
    config, body = services.config, {"model": "gpt-5-nano", "input": "hi"}
    caller = Caller(Principal(tenant, "svc", False, 0.0), config.tenants[tenant])
    route_plan = plan(config, "gpt-5-nano", NO_FEATURES, "k")
    request = RESPONSES.parse(body)
    return Prepared(config, RESPONSES, caller, request, body, b"{}", route_plan)


def ledger(services: Services) -> list[dict[str, Any]]:
    asyncio.run(services.ledger.flush())
    with services.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text("SELECT * FROM ledger"))]


def held(services: Services) -> int:
    [day] = services.quota.status("team", services.config.tenants["team"], time.time())
    return day.limit_nanos - day.remaining_nanos


def test_a_call_is_settled_once_whatever_settles_it_again(services: Services) -> None:
    p = prepared(services)
    request = for_model(p, p.plan.ladder[0], first=True)
    ctx = RequestContext.start("POST", "/v1/responses", "responses")
    call = asyncio.run(services.pipeline.admit(ctx, p, request))
    assert held(services) == request.bound > 0, "the bound is held while the call runs"
    first = call.settle(Measured(USED, None, None, "resp_1", "completed", False), 200)
    again = call.settle(estimated(USED, "resp_1"), 0)  # e.g. the socket closing afterwards
    assert first > 0
    assert again == 0
    [row] = ledger(services)
    assert (row["cost_nanos"], row["outcome"], row["estimated"]) == (first, "completed", False)
    assert held(services) == first, "the reservation became the real cost"


def test_a_released_call_gives_its_bound_back_and_writes_no_row(services: Services) -> None:
    p = prepared(services)
    request = for_model(p, p.plan.ladder[0], first=True)
    ctx = RequestContext.start("GET", "/v1/responses", "responses.websocket")
    call = asyncio.run(services.pipeline.admit(ctx, p, request))
    call.release()
    call.settle(Measured(USED, None, None, None, "completed", False), 200)
    assert ledger(services) == []
    assert held(services) == 0


def attempt(services: Services, number: int = 1, tenant: str = "team") -> Attempt:
    p = prepared(services, tenant)
    request = for_model(p, p.plan.ladder[0], first=number == 1)
    ctx = RequestContext.start("POST", "/v1/responses", "responses")
    return Attempt(services.pipeline, ctx, p, request, number, {}, None)


def test_an_upstream_failure_is_kept_not_raised_and_the_attempt_is_metered(
    services: Services,
) -> None:
    async def scenario() -> Attempt:
        async with attempt(services) as a:
            raise UpstreamError("the upstream hung up", code="upstream_disconnected")
        return a

    a = asyncio.run(scenario())
    assert a.failure is not None
    assert a.failure.code == "upstream_disconnected"
    [row] = ledger(services)
    assert (row["status"], row["outcome"], row["cost_nanos"]) == (0, "error", 0)
    assert held(services) == 0


def test_a_cancelled_attempt_is_metered_and_the_cancellation_goes_on(services: Services) -> None:
    async def scenario() -> None:
        async with attempt(services, number=2) as a:
            a.outcome.status = 200
            raise asyncio.CancelledError  # shutdown while the answer was on its way

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(scenario())
    [row] = ledger(services)
    assert (row["attempt"], row["status"]) == (2, 200)


def test_a_refused_admission_raises_before_the_block_and_meters_nothing(
    services: Services,
) -> None:
    ran = []

    async def scenario() -> None:
        async with attempt(services, tenant="broke"):
            ran.append(True)

    with pytest.raises(BudgetExceeded):
        asyncio.run(scenario())
    assert ran == []
    assert ledger(services) == []
