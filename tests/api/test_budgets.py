"""Budgets that hold: concurrent calls, streams, abandoned streams and restarts never overshoot."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from harness import GatewayServer, config_dict, ledger_rows

from fake_openai import FakeOpenAIServer, Fault

BUDGET_USD = 0.002
BUDGET_NANOS = 2_000_000
TENANTS = {
    "thrifty": {
        "models": ["gpt-5-nano"],
        "max_output_tokens": 64,
        "budgets": {"daily_usd": BUDGET_USD},
    }
}
PROMPT = "Please write a few words about the sea and the wind and the sky " * 3


@pytest.fixture(scope="module")
def slow_fake() -> Iterator[FakeOpenAIServer]:
    # Streams take ~40 events x 10 ms, so hundreds of calls are in flight at once.
    with FakeOpenAIServer(
        api_key="sk-upstream-TOPSECRET-9f8e7d6c5b4a39281706", event_delay_s=0.01
    ) as f:
        yield f


@pytest.fixture
def gw(slow_fake: FakeOpenAIServer, tmp_path: Path) -> Iterator[GatewayServer]:
    slow_fake.clear()
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    with GatewayServer(config_dict(slow_fake.base_url, tenants=TENANTS), database_url=url) as g:
        yield g
    slow_fake.clear()


def _totals(gw: GatewayServer, admitted: int) -> list[dict[str, object]]:
    rows = [r for r in ledger_rows(gw.database_url, at_least=admitted) if r["tenant"] == "thrifty"]
    assert len(rows) == admitted, "every admitted call is in the ledger, exactly once"
    assert len({r["request_id"] for r in rows}) == admitted
    spent = sum(int(r["cost_nanos"]) for r in rows)  # type: ignore[call-overload]
    assert spent <= BUDGET_NANOS, f"spent {spent} nano-USD of a {BUDGET_NANOS} budget"
    return rows


async def _many(gw: GatewayServer, n: int, *, stream: bool) -> tuple[int, int]:
    client = openai.AsyncOpenAI(
        base_url=gw.base_url, api_key=gw.token("thrifty"), max_retries=0, timeout=30
    )

    async def one() -> str:
        try:
            if stream:
                events = await client.responses.create(
                    model="gpt-5-nano", input=PROMPT, stream=True
                )
                async for _ in events:
                    pass
            else:
                await client.responses.create(model="gpt-5-nano", input=PROMPT)
        except openai.RateLimitError as err:
            return str(err.code)
        return "ok"

    results = await asyncio.gather(*(one() for _ in range(n)))
    await client.close()
    assert set(results) <= {"ok", "budget_exceeded"}
    return results.count("ok"), n - results.count("ok")


@pytest.mark.slow
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_200_concurrent_calls_never_overshoot_a_strict_budget(
    stream: bool, gw: GatewayServer, slow_fake: FakeOpenAIServer
) -> None:
    if not stream:
        for _ in range(200):  # keep each JSON call in flight for a while
            slow_fake.inject(Fault(path="/v1/responses", delay_s=0.3))
    admitted, refused = asyncio.run(_many(gw, 200, stream=stream))
    assert admitted > 0
    assert refused > 0, "the budget should cover far fewer than 200 calls"
    rows = _totals(gw, admitted)
    assert all(r["outcome"] == "completed" for r in rows)


@pytest.mark.slow
def test_abandoned_streams_are_metered_as_estimates_within_the_budget(
    gw: GatewayServer,
) -> None:
    async def abandon(client: httpx.AsyncClient) -> bool:
        async with client.stream(
            "POST",
            f"{gw.base_url}/responses",
            json={"model": "gpt-5-nano", "input": PROMPT, "stream": True},
            headers={"Authorization": f"Bearer {gw.token('thrifty')}"},
        ) as resp:
            if resp.status_code == 429:
                return False
            assert resp.status_code == 200
            async for _ in resp.aiter_bytes():
                break  # the client walks away after the first bytes
        return True

    async def run() -> tuple[int, int]:
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=300)) as c:
            results = await asyncio.gather(*(abandon(c) for _ in range(200)))
        return sum(results), 200 - sum(results)

    admitted, _refused = asyncio.run(run())
    assert admitted > 0
    rows = _totals(gw, admitted)
    assert all(r["outcome"] == "client_gone" for r in rows)
    assert all(r["estimated"] in (1, True) for r in rows)
    assert all(int(r["cost_nanos"]) > 0 for r in rows)  # type: ignore[call-overload]


def test_spend_before_a_restart_still_counts_after_it(
    slow_fake: FakeOpenAIServer, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    config = config_dict(slow_fake.base_url, tenants=TENANTS)
    with GatewayServer(config, database_url=url) as first:
        client = openai.OpenAI(
            base_url=first.base_url, api_key=first.token("thrifty"), max_retries=0
        )
        served = 0
        with pytest.raises(openai.RateLimitError):
            for _ in range(1000):
                client.responses.create(model="gpt-5-nano", input=PROMPT)
                served += 1
        spent_before = _usage(first)
    assert served > 0
    rows = ledger_rows(url, at_least=served)
    assert sum(int(r["cost_nanos"]) for r in rows) <= BUDGET_NANOS  # type: ignore[call-overload]
    with GatewayServer(config, database_url=url) as second:
        assert _usage(second) == spent_before
        client = openai.OpenAI(
            base_url=second.base_url, api_key=second.token("thrifty"), max_retries=0
        )
        with pytest.raises(openai.RateLimitError) as err:
            client.responses.create(model="gpt-5-nano", input=PROMPT)
        assert err.value.code == "budget_exceeded"
        assert err.value.response.headers["x-should-retry"] == "false"


def _usage(gw: GatewayServer) -> str:
    body = httpx.get(
        f"{gw.root}/v1/gateway/usage", headers={"Authorization": f"Bearer {gw.token('thrifty')}"}
    ).json()
    (budget,) = body["budgets"]
    assert budget["window"] == "day"
    assert budget["limit_usd"] == "0.002000"
    assert budget["reserved_usd"] == "0.000000"
    return str(budget["spent_usd"])
