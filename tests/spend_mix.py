"""Random mixes of metered calls from a few tenants, run at once against one gateway.

A mix is data (hypothesis draws it with `mixes`); `run_mix` makes every call of it
concurrently, through the official SDK or, for the streams a client walks away from, httpx,
and says for each call whether the budget refused it and, if not, the id of the response it
started. What becomes of background responses afterwards (finished, retrieved, cancelled or
left to the gateway's watcher) is the caller's: it needs the fake and the gateway's loop.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Literal, get_args

import httpx
import openai
from harness import GatewayServer
from hypothesis import strategies as st

Kind = Literal[
    "responses",
    "responses_stream",
    "chat",
    "chat_stream",
    "background",
    "left_responses",
    "left_chat",
    "left_background",
]
"""``left_*``: a stream the client leaves after its first event; ``left_background`` is a
background stream, which runs on upstream after its client left."""
KINDS: tuple[Kind, ...] = get_args(Kind)
Fate = Literal["retrieve", "watcher", "race", "cancel", "cancel_late"]
"""What ends a background response: finished upstream, then the client's retrieve, the
gateway's watcher, or both at once (``race``); the client's cancel while it is still queued;
or a cancel that comes after it finished (refused upstream), then the watcher. A background
stream has finished upstream by the time its client leaves: any cancel of it is late."""
FATES: tuple[Fate, ...] = ("retrieve", "watcher", "race", "cancel", "cancel_late")
MODELS = ("gpt-5-nano", "small")  # "small" is gpt-4.1-mini upstream: about 4x dearer
TIERS = (None, "auto", "flex", "priority")
BUDGETS_USD = (0.00008, 0.00015, 0.0003)
"""Each holds from none to a handful of calls' bounds: some calls are always refused."""
MAX_OUTPUT_TOKENS = 64


@dataclass(frozen=True)
class Call:
    tenant: int
    kind: Kind
    model: str
    tier: str | None
    words: int
    """Prompt length in words; the answer echoes up to 24 of them, one event each."""
    fate: Fate


@dataclass(frozen=True)
class Mix:
    budgets_usd: tuple[float, ...]
    """One per tenant: tenant ``i`` is ``tenant_name(i)``."""
    calls: tuple[Call, ...]


@dataclass(frozen=True)
class Ran:
    call: Call
    response_id: str | None
    """None when the budget refused the call."""


def tenant_name(index: int) -> str:
    return f"spender{index}"


def tenants_config(mix: Mix) -> dict[str, object]:
    return {
        tenant_name(i): {
            "models": list(MODELS),
            "max_output_tokens": MAX_OUTPUT_TOKENS,
            "budgets": {"daily_usd": budget},
        }
        for i, budget in enumerate(mix.budgets_usd)
    }


@st.composite
def calls(draw: st.DrawFn, tenants: int) -> Call:
    kind = draw(st.sampled_from(KINDS))
    # A stream its client leaves answers the longest prompt echoed (24 words): 30-odd events,
    # so it outlasts the gateway's noticing that the client left (relay.WATCH_AFTER_S).
    shortest = 24 if kind.startswith("left_") else 12
    return Call(
        tenant=draw(st.integers(0, tenants - 1)),
        kind=kind,
        model=draw(st.sampled_from(MODELS)),
        tier=draw(st.sampled_from(TIERS)),
        words=draw(st.integers(shortest, 30)),
        fate=draw(st.sampled_from(FATES)),
    )


@st.composite
def mixes(draw: st.DrawFn) -> Mix:
    """Two or three tenants with strict daily budgets, and up to ten calls between them."""
    tenants = draw(st.integers(2, 3))
    budgets = draw(st.lists(st.sampled_from(BUDGETS_USD), min_size=tenants, max_size=tenants))
    return Mix(tuple(budgets), tuple(draw(st.lists(calls(tenants), min_size=1, max_size=10))))


def prompt(words: int) -> str:
    return " ".join(f"word{i}" for i in range(words))


async def run_mix(gw: GatewayServer, mix: Mix) -> list[Ran]:
    """Every call of ``mix`` at once; refusals other than ``budget_exceeded`` fail the test."""
    clients = [
        openai.AsyncOpenAI(
            base_url=gw.base_url, api_key=gw.token(tenant_name(i)), max_retries=0, timeout=30
        )
        for i in range(len(mix.budgets_usd))
    ]
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            return list(
                await asyncio.gather(
                    *(_run(gw, clients[call.tenant], http, call) for call in mix.calls)
                )
            )
    finally:
        for client in clients:
            await client.close()


async def _run(
    gw: GatewayServer, client: openai.AsyncOpenAI, http: httpx.AsyncClient, call: Call
) -> Ran:
    try:
        if call.kind.startswith("left_"):
            return Ran(call, await _leave(gw, http, call))
        if call.kind.startswith("chat"):
            return Ran(call, await _chat(client, call))
        return Ran(call, await _responses(client, call))
    except openai.RateLimitError as err:
        refusal = err.code
    assert refusal == "budget_exceeded", refusal  # the one refusal these tenants can get
    return Ran(call, None)


def _body(call: Call) -> dict[str, Any]:
    body: dict[str, Any] = {"model": call.model}
    if call.tier is not None:
        body["service_tier"] = call.tier
    if call.kind in ("chat", "chat_stream", "left_chat"):
        body["messages"] = [{"role": "user", "content": prompt(call.words)}]
    else:
        body["input"] = prompt(call.words)
    return body


async def _responses(client: openai.AsyncOpenAI, call: Call) -> str:
    body = _body(call)
    if call.kind == "responses_stream":
        ids = [
            event.response.id
            async for event in await client.responses.create(**body, stream=True)
            if event.type == "response.completed"
        ]
        assert len(ids) == 1, "a stream read to its end has one completed event"
        return str(ids[0])
    response = await client.responses.create(**body, background=call.kind == "background")
    return str(response.id)


async def _chat(client: openai.AsyncOpenAI, call: Call) -> str:
    body = _body(call)
    if call.kind == "chat_stream":
        ids = {
            chunk.id async for chunk in await client.chat.completions.create(**body, stream=True)
        }
        assert len(ids) == 1, ids
        return str(ids.pop())
    return str((await client.chat.completions.create(**body)).id)


async def _leave(gw: GatewayServer, http: httpx.AsyncClient, call: Call) -> str | None:
    """Open the stream, read up to its first event (which names the response) and leave."""
    body = {**_body(call), "stream": True}
    if call.kind == "left_background":
        body["background"] = True
    path = "/chat/completions" if call.kind == "left_chat" else "/responses"
    headers = {"Authorization": f"Bearer {gw.token(tenant_name(call.tenant))}"}
    async with http.stream("POST", gw.base_url + path, json=body, headers=headers) as resp:
        if resp.status_code == 429:
            await resp.aread()
            assert resp.json()["error"]["code"] == "budget_exceeded", resp.text
            return None
        assert resp.status_code == 200, resp.status_code
        async for line in resp.aiter_lines():
            if line.startswith("data:"):
                event = json.loads(line.removeprefix("data:"))
                response_id = event["response"]["id"] if "response" in event else event["id"]
                return str(response_id)
    raise AssertionError("the stream ended before its first event")
