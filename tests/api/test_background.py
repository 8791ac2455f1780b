"""Background responses: the bound stays charged from create until the response ends upstream.

A ``background: true`` response answers ``queued`` with no usage; the gateway
holds its bound (a ``pending`` ledger row, counted by the budget) until the
response reaches a terminal state, then bills what it used exactly once —
through the client's retrieve, a replayed stream, a cancel, or the gateway's
own watcher. A background stream the client drops is held the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from harness import GatewayServer, config_dict, ledger_row, ledger_rows

from fake_openai import FakeOpenAIServer

BUDGET_NANOS = 200_000  # $0.0002: about five calls' bounds
TENANTS = {
    "thrifty": {
        "models": ["gpt-5-nano"],
        "max_output_tokens": 64,
        "budgets": {"daily_usd": 0.0002},
    }
}
PROMPT = "Please write a few words about the sea and the wind and the sky " * 3
NANO_PRICE = {"input": 50, "cached": 5, "output": 400}  # gpt-5-nano, nano-USD per token


@pytest.fixture
def gw(fake: FakeOpenAIServer, tmp_path: Path) -> Iterator[GatewayServer]:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    with GatewayServer(config_dict(fake.base_url, tenants=TENANTS), database_url=url) as g:
        yield g


@pytest.fixture
def thrifty(gw: GatewayServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=gw.token("thrifty"), max_retries=0)


def cost_of(usage: Any) -> int:
    cached = usage.input_tokens_details.cached_tokens
    return int(
        (usage.input_tokens - cached) * NANO_PRICE["input"]
        + cached * NANO_PRICE["cached"]
        + usage.output_tokens * NANO_PRICE["output"]
    )


def create(client: openai.OpenAI, **kw: Any) -> tuple[Any, str]:
    raw = client.responses.with_raw_response.create(
        model="gpt-5-nano", input=PROMPT, background=True, **kw
    )
    return raw.parse(), raw.headers["x-gateway-request-id"]


def test_background_calls_hold_their_bound_so_a_strict_budget_holds(
    gw: GatewayServer, thrifty: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    admitted: list[str] = []
    refused: list[str | None] = []
    for _ in range(12):
        try:
            admitted.append(create(thrifty)[0].id)
        except openai.RateLimitError as err:
            refused.append(err.code)
    assert len(admitted) > 0
    assert refused, "the held bounds fill the budget before twelve calls"
    assert set(refused) == {"budget_exceeded"}
    held = ledger_rows(gw.database_url, at_least=len(admitted))
    assert {(r["outcome"], r["background"], r["estimated"]) for r in held} == {
        ("pending", True, True)
    }
    for response_id in admitted:
        fake.finish_background(response_id)
    assert gw.watch_round() == len(admitted)
    rows = ledger_rows(gw.database_url)
    assert len(rows) == len(admitted)
    assert {r["outcome"] for r in rows} == {"completed"}
    for row in rows:
        final = thrifty.responses.retrieve(str(row["response_id"]))
        assert row["cost_nanos"] == cost_of(final.usage)
    assert sum(int(r["cost_nanos"]) for r in rows) <= BUDGET_NANOS  # type: ignore[call-overload]


def test_a_retrieve_bills_it_once_at_its_real_usage(
    gw: GatewayServer, thrifty: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    queued, request_id = create(thrifty)
    assert queued.status == "queued"
    assert thrifty.responses.retrieve(queued.id).status == "queued"
    assert ledger_row(gw.database_url, request_id=request_id)["outcome"] == "pending"
    fake.finish_background(queued.id)
    done = thrifty.responses.retrieve(queued.id)
    for _ in range(3):
        thrifty.responses.retrieve(queued.id)
    rows = [r for r in ledger_rows(gw.database_url) if r["request_id"] == request_id]
    assert len(rows) == 1
    assert (rows[0]["outcome"], rows[0]["cost_nanos"]) == ("completed", cost_of(done.usage))
    assert (bool(rows[0]["estimated"]), bool(rows[0]["background"])) == (False, True)
    assert gw.watch_round() == 0


def test_a_cancelled_background_response_is_billed_what_ran(
    gw: GatewayServer, thrifty: openai.OpenAI
) -> None:
    queued, request_id = create(thrifty)
    assert thrifty.responses.cancel(queued.id).status == "cancelled"
    row = ledger_row(gw.database_url, request_id=request_id)
    assert (row["outcome"], row["cost_nanos"]) == ("cancelled", 0), "it never left the queue"


def test_a_replayed_stream_to_its_end_bills_it(
    gw: GatewayServer, thrifty: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    queued, request_id = create(thrifty)
    fake.finish_background(queued.id)
    with thrifty.responses.retrieve(queued.id, stream=True) as events:
        final = [e for e in events if e.type == "response.completed"][-1].response
    # Billed once the replay has gone to the client: wait for it.
    row = ledger_row(gw.database_url, request_id=request_id, outcome="completed")
    assert (row["outcome"], row["cost_nanos"]) == ("completed", cost_of(final.usage))


@pytest.fixture
def slow_gw(tmp_path: Path) -> Iterator[GatewayServer]:
    """On a fake whose stream events come 10 ms apart: a client can leave mid-stream."""
    with FakeOpenAIServer(event_delay_s=0.01) as slow:
        url = f"sqlite:///{tmp_path / 'slow.db'}"
        with GatewayServer(config_dict(slow.base_url, tenants=TENANTS), database_url=url) as g:
            yield g


def test_a_background_stream_the_client_drops_is_billed_in_full_when_it_ends(
    slow_gw: GatewayServer,
) -> None:
    gw = slow_gw
    thrifty = openai.OpenAI(base_url=gw.base_url, api_key=gw.token("thrifty"), max_retries=0)
    with httpx.stream(
        "POST",
        f"{gw.base_url}/responses",
        json={"model": "gpt-5-nano", "input": PROMPT, "stream": True, "background": True},
        headers={"Authorization": f"Bearer {gw.token('thrifty')}"},
        timeout=10,
    ) as resp:
        request_id = resp.headers["x-gateway-request-id"]
        for _ in resp.iter_bytes():
            break  # the client walks away; upstream the response runs on
    row = ledger_row(gw.database_url, request_id=request_id)
    assert (row["outcome"], bool(row["background"])) == ("pending", True)
    response_id = str(row["response_id"])
    assert gw.watch_round() == 1
    final = thrifty.responses.retrieve(response_id)
    row = ledger_row(gw.database_url, request_id=request_id)
    assert (row["outcome"], row["estimated"]) == ("completed", False)
    assert row["cost_nanos"] == cost_of(final.usage), "all of it, not the events the client saw"


def test_a_plain_call_is_not_held(gw: GatewayServer, thrifty: openai.OpenAI) -> None:
    raw = thrifty.responses.with_raw_response.create(model="gpt-5-nano", input="now")
    row = ledger_row(gw.database_url, request_id=raw.headers["x-gateway-request-id"])
    assert (row["outcome"], bool(row["background"])) == ("completed", False)
