"""No spend hole, as a property: whatever mix of calls a few tenants make under strict budgets
(JSON, streamed, background, abandoned, cancelled; Responses and Chat), once everything has
settled every tenant's ledger spend is within its budget (and equals what the gateway's own
budget counts, with nothing left reserved), and the ledger equals the fake upstream's own
record of what it served, call for call.

Each example gets a fresh gateway and database; the fake is shared and cleared. Streams are
paced (25 ms an event) so a client that leaves after the first event leaves well before the
usage is sent: the fake then records the call undelivered, and the gateway can only estimate
it.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from harness import PRICING, GatewayServer, config_dict, ledger_rows
from hypothesis import event, example, given, settings
from poll import latest_sync
from spend_mix import Call, Mix, Ran, mixes, run_mix, tenant_name, tenants_config

from fake_openai import Billed, FakeOpenAIServer
from gateway.ledger.queries import nanos_to_usd
from gateway.metering import Usage
from gateway.pricing import NANOS_PER_USD, cost_of, load_pricing

PRICES = load_pricing(PRICING)
EVENT_DELAY_S = 0.025
"""Between the fake's stream events: a stream a client leaves (30-odd events) lasts 0.7 s and
more, well past the 0.2 s after which the gateway notices a client has left."""

Row = dict[str, Any]


@pytest.fixture(scope="module")
def paced() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(event_delay_s=EVENT_DELAY_S) as fake:
        yield fake


def watch_round(gw: GatewayServer, seconds_later: float) -> int:
    """One round of the gateway's watcher as if ``seconds_later`` had passed (see
    test_background.py); rounds an hour apart each find every charge due."""
    loop = gw._server.servers[0].get_loop()
    later = time.time() + seconds_later
    check = gw.app.services.deferred.check_due(later)
    return asyncio.run_coroutine_threadsafe(check, loop).result(timeout=10)


def settle(gw: GatewayServer, fake: FakeOpenAIServer, ran: list[Ran]) -> set[str]:
    """End every background response as its call's fate says; the ids cancelled in the queue.

    The watcher first looks while they are all still queued (it must bill none of those),
    then again while clients retrieve the ones racing it, and once more at the end.
    """
    admitted = [r for r in ran if r.response_id is not None]
    # Every admitted call has its row (pending or final) before the watcher looks.
    ledger_rows(gw.database_url, at_least=len(admitted), timeout_s=10)
    watch_round(gw, 3600)
    cancelled: set[str] = set()
    racing: list[Ran] = []
    for r in admitted:
        if r.response_id is None or r.call.kind not in ("background", "left_background"):
            continue
        client = openai.OpenAI(
            base_url=gw.base_url, api_key=gw.token(tenant_name(r.call.tenant)), max_retries=0
        )
        queued = r.call.kind == "background"
        if queued and r.call.fate == "cancel":
            assert client.responses.cancel(r.response_id).status == "cancelled"
            cancelled.add(r.response_id)
            continue
        if queued:
            fake.finish_background(r.response_id)
        if r.call.fate == "retrieve":
            assert client.responses.retrieve(r.response_id).status == "completed"
        elif r.call.fate == "race":
            racing.append(r)
        elif r.call.fate in ("cancel", "cancel_late"):
            with pytest.raises(openai.BadRequestError):
                client.responses.cancel(r.response_id)  # too late: it has completed
    asyncio.run(race(gw, racing))
    watch_round(gw, 3 * 3600)
    return cancelled


async def race(gw: GatewayServer, racing: list[Ran]) -> None:
    """A round of the watcher and the clients' retrieves of the same finished responses, at
    once: whichever bills a response first, it is billed once."""
    loop = gw._server.servers[0].get_loop()
    check = gw.app.services.deferred.check_due(time.time() + 2 * 3600)
    clients = {
        r.call.tenant: openai.AsyncOpenAI(
            base_url=gw.base_url, api_key=gw.token(tenant_name(r.call.tenant)), max_retries=0
        )
        for r in racing
    }
    watcher = asyncio.wrap_future(asyncio.run_coroutine_threadsafe(check, loop))
    try:
        answers = await asyncio.gather(
            *(clients[r.call.tenant].responses.retrieve(str(r.response_id)) for r in racing)
        )
        await watcher
    finally:
        for client in clients.values():
            await client.close()
    assert {answer.status for answer in answers} <= {"completed"}


def settled_rows(gw: GatewayServer, count: int) -> list[Row]:
    def done(rows: list[Row]) -> bool:
        return len(rows) >= count and all(r["outcome"] != "pending" for r in rows)

    return latest_sync(lambda: ledger_rows(gw.database_url), done, 10)


def price_of(billed: Billed) -> int:
    price = PRICES.price_for(billed.model)
    assert price is not None, billed.model
    usage = Usage(
        input_tokens=billed.input_tokens - billed.cached_tokens,
        cached_input_tokens=billed.cached_tokens,
        output_tokens=billed.output_tokens,
    )
    return cost_of(usage, price, PRICES.tools, PRICES.tier_multiplier(billed.service_tier)).nanos


def check_budgets(mix: Mix, rows: list[Row]) -> None:
    for index, budget_usd in enumerate(mix.budgets_usd):
        tenant = tenant_name(index)
        spent = sum(int(r["cost_nanos"]) for r in rows if r["tenant"] == tenant)
        budget = round(budget_usd * NANOS_PER_USD)
        assert spent <= budget, f"{tenant} spent {spent} nano-USD of a {budget} budget"


def check_quota(gw: GatewayServer, mix: Mix, rows: list[Row]) -> None:
    """The budgets the gateway enforces agree with its ledger: nothing left reserved, and
    spent what the ledger says (to the micro-dollar the usage endpoint shows)."""
    for index in range(len(mix.budgets_usd)):
        tenant = tenant_name(index)
        spent = sum(int(r["cost_nanos"]) for r in rows if r["tenant"] == tenant)
        usage = httpx.get(
            f"{gw.root}/v1/gateway/usage", headers={"Authorization": f"Bearer {gw.token(tenant)}"}
        ).json()
        (budget,) = usage["budgets"]
        assert (budget["spent_usd"], budget["reserved_usd"]) == (
            str(nanos_to_usd(spent)),
            "0.000000",
        ), (tenant, budget)


def check_call_for_call(
    ran: list[Ran], billed: list[Billed], rows: list[Row], cancelled: set[str]
) -> None:
    admitted = {r.response_id: r for r in ran if r.response_id is not None}
    by_id: dict[str, list[Row]] = {}
    for row in rows:
        by_id.setdefault(str(row["response_id"]), []).append(row)
    assert sorted(by_id) == sorted(admitted), "one ledger row per admitted call, no other"
    assert all(len(found) == 1 for found in by_id.values()), "and only one"
    record = {b.response_id: b for b in billed}
    assert len(record) == len(billed), "the fake bills each call once"
    assert sorted(record) == sorted(set(admitted) - cancelled), "the fake served every call"
    for response_id, (row,) in by_id.items():
        assert row["tenant"] == tenant_name(admitted[response_id].call.tenant), row
        served = record.get(response_id)
        if served is None:  # cancelled while queued: nothing ran, nothing billed
            assert response_id in cancelled
            assert (row["outcome"], row["cost_nanos"], row["output_tokens"]) == ("cancelled", 0, 0)
            continue
        if not served.delivered:
            # Left before the usage came: its exact count cannot be known, only estimated.
            assert admitted[response_id].call.kind in ("left_responses", "left_chat"), served
            assert row["estimated"], row
            assert int(row["cost_nanos"]) > 0, "an estimate, never free"
            continue
        assert not row["estimated"], (served, row)
        assert row["served_model"] == served.model, (served, row)
        tokens = (row["input_tokens"], row["cached_input_tokens"], row["output_tokens"])
        assert tokens == (
            served.input_tokens - served.cached_tokens,
            served.cached_tokens,
            served.output_tokens,
        ), (served, row)
        assert row["cost_nanos"] == price_of(served), (served, row)
        assert bool(row["background"]) == served.background, (served, row)


EVERY_PATH = Mix(
    (0.0003, 0.0003, 0.00008),
    (
        Call(0, "background", "gpt-5-nano", None, 20, "retrieve"),
        Call(0, "background", "gpt-5-nano", "flex", 20, "watcher"),
        Call(0, "background", "gpt-5-nano", None, 20, "cancel"),
        Call(0, "background", "gpt-5-nano", None, 20, "cancel_late"),
        Call(0, "background", "gpt-5-nano", None, 20, "race"),
        Call(0, "left_background", "gpt-5-nano", None, 24, "watcher"),
        Call(2, "left_background", "gpt-5-nano", None, 24, "cancel_late"),
        Call(2, "left_background", "gpt-5-nano", None, 24, "race"),
        Call(1, "responses", "gpt-5-nano", "priority", 12, "watcher"),
        Call(1, "responses_stream", "gpt-5-nano", "auto", 16, "watcher"),
        Call(1, "chat", "gpt-5-nano", "flex", 12, "watcher"),
        Call(1, "chat_stream", "gpt-5-nano", None, 16, "watcher"),
        Call(1, "left_responses", "gpt-5-nano", None, 24, "watcher"),
        Call(1, "left_chat", "gpt-5-nano", None, 24, "watcher"),
        Call(2, "responses", "small", None, 12, "watcher"),  # its bound exceeds the budget
    ),
)
"""Every kind of call and every background fate at least once, whatever the draws are."""


@pytest.mark.slow  # 20 mixes, each on its own gateway: about 20 s
@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,  # the same 20 mixes on every run, in CI and locally
    database=None,
)
@given(mix=mixes())
@example(mix=EVERY_PATH)
def test_spend_stays_within_budgets_and_the_ledger_equals_what_upstream_served(
    paced: FakeOpenAIServer, mix: Mix
) -> None:
    paced.clear()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'gateway.db'}"
        config = config_dict(paced.base_url, tenants=tenants_config(mix))
        with GatewayServer(config, database_url=url) as gw:
            ran = asyncio.run(run_mix(gw, mix))
            cancelled = settle(gw, paced, ran)
            served = sum(r.response_id is not None for r in ran) - len(cancelled)
            billed = latest_sync(lambda: paced.billed, lambda got: len(got) >= served, 10)
            rows = settled_rows(gw, sum(r.response_id is not None for r in ran))
            check_quota(gw, mix, rows)
        check_budgets(mix, rows)
        check_call_for_call(ran, billed, rows, cancelled)
    describe(ran, billed, cancelled)


def describe(ran: list[Ran], billed: list[Billed], cancelled: set[str]) -> None:
    """What the example exercised (``--hypothesis-show-statistics`` shows the shares)."""
    refused = sum(r.response_id is None for r in ran)
    event(f"calls refused: {'some' if refused else 'none'}")
    event(f"streams left before their usage: {sum(not b.delivered for b in billed)}")
    left = sum(
        r.call.kind in ("left_responses", "left_chat") and r.response_id is not None for r in ran
    )
    event(f"left streams delivered whole anyway: {left - sum(not b.delivered for b in billed)}")
    event(f"background cancelled in the queue: {len(cancelled)}")
    event(f"background billed: {sum(b.background for b in billed)}")
