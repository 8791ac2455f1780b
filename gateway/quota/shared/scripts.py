"""The Lua scripts as typed calls: their keys and arguments are built, and their replies
decoded, here and nowhere else (the scripts themselves and the key layout are in `lua`).

An admit's reply becomes a `Verdict`; the refusal a client sees is worded by
`gateway.quota.errors`, as for the in-process store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, cast

import orjson
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError

from gateway.config.runtime import BudgetLimit, Policy
from gateway.quota.bucket import rate_headers
from gateway.quota.errors import budget_refusal, concurrency_refusal, rpm_refusal, tpm_refusal
from gateway.quota.orphans import CounterKey, Orphan
from gateway.quota.shared import lua
from gateway.quota.shared.keys import Keys
from gateway.quota.ticket import Ticket
from gateway.quota.windows import Window, WindowKind

BUDGET_TTL_S = 40 * 86400  # a month window's counters outlive the month, then go

Counted = list[tuple[BudgetLimit, str]]  # the budgets a call counts against, with their keys


class Script(StrEnum):
    ADMIT = "admit"
    RELEASE = "release"
    SETTLE = "settle"
    ADD_SPEND = "add_spend"
    OPEN_SESSION = "open_session"
    CLOSE_SESSION = "close_session"
    CLAIM = "claim"
    CLAIMED = "claimed"
    SEED = "seed"


_SOURCES = {
    Script.ADMIT: lua.ADMIT,
    Script.RELEASE: lua.RELEASE,
    Script.SETTLE: lua.SETTLE,
    Script.ADD_SPEND: lua.ADD_SPEND,
    Script.OPEN_SESSION: lua.OPEN_SESSION,
    Script.CLOSE_SESSION: lua.CLOSE_SESSION,
    Script.CLAIM: lua.CLAIM,
    Script.CLAIMED: lua.CLAIMED,
    Script.SEED: lua.SEED,
}


@dataclass(frozen=True, slots=True)
class Call:
    script: Script
    keys: list[str]
    args: list[str | int]


class Scripts:
    """The scripts as loaded into one Redis, whose cache goes when it restarts (NOSCRIPT)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._shas: dict[Script, str] = {}

    async def load(self) -> None:
        for script, source in _SOURCES.items():
            self._shas[script] = await self._redis.script_load(source)

    def add_to(self, pipe: Pipeline, call: Call) -> None:
        pipe.evalsha(self._shas[call.script], len(call.keys), *call.keys, *call.args)

    async def run(self, call: Call) -> object:
        """One script on its own (not through the courier), loading the scripts again if need be."""
        try:
            return await self._eval(call)
        except NoScriptError:  # Redis restarted and lost its script cache
            await self.load()
            return await self._eval(call)

    async def _eval(self, call: Call) -> object:
        reply: object = await self._redis.evalsha(
            self._shas[call.script], len(call.keys), *call.keys, *call.args
        )
        return reply


# ------------------------------------------------------------------ admission


class Verdict(IntEnum):
    """The first element of ``ADMIT``'s reply."""

    ADMITTED = 0
    TOO_MANY_IN_FLIGHT = 1
    RPM_EXHAUSTED = 2
    TPM_EXHAUSTED = 3
    OVER_BUDGET = 4
    UNSEEDED = 5  # Redis lost its data and its budgets are not re-seeded yet


@dataclass(frozen=True, slots=True)
class AdmitReply:
    verdict: Verdict
    over_budget: bool = False  # admitted past a budget (soft mode, or forced)
    requests: float = 0.0  # the RPM bucket's level (after the admit, or at the refusal)
    tokens: float = 0.0  # the TPM bucket's level
    in_flight: int = 0
    budget: int = 0  # the refusing budget's index among the call's budgets
    left: int = 0  # nanos that budget had left

    @classmethod
    def decode(cls, raw: object) -> AdmitReply:
        reply = cast(list[Any], raw)
        verdict = Verdict(int(reply[0]))
        if verdict is Verdict.ADMITTED:
            return cls(verdict, bool(int(reply[1])), _float(reply[2]), _float(reply[3]))
        if verdict is Verdict.TOO_MANY_IN_FLIGHT:
            return cls(verdict, in_flight=int(reply[1]))
        if verdict is Verdict.RPM_EXHAUSTED:
            return cls(verdict, requests=_float(reply[1]))
        if verdict is Verdict.TPM_EXHAUSTED:
            return cls(verdict, tokens=_float(reply[1]))
        if verdict is Verdict.OVER_BUDGET:
            return cls(verdict, budget=int(reply[1]) - 1, left=int(float(reply[2])))
        return cls(verdict)

    def headers(self, policy: Policy) -> dict[str, str]:
        return rate_headers(
            ("requests", policy.rpm, self.requests), ("tokens", policy.tpm, self.tokens)
        )

    def refusal(
        self,
        ticket: Ticket,
        policy: Policy,
        counted: Counted,
        windows: dict[WindowKind, Window],
        now: float,
    ) -> Exception:
        """The 429 of a refusing verdict, worded as the in-process store words it."""
        tenant = ticket.tenant
        if self.verdict is Verdict.TOO_MANY_IN_FLIGHT:
            limit = cast(int, policy.concurrent)
            return concurrency_refusal(tenant, self.in_flight, limit, ", across all replicas")
        if self.verdict is Verdict.RPM_EXHAUSTED:
            rpm = cast(int, policy.rpm)
            wait = (1 - self.requests) * 60 / rpm
            return rpm_refusal(tenant, rpm, wait, rate_headers(("requests", rpm, self.requests)))
        if self.verdict is Verdict.TPM_EXHAUSTED:
            tpm, want, level = cast(int, policy.tpm), ticket.tokens, self.tokens
            wait = (want - level) * 60 / tpm if want <= tpm else math.inf
            return tpm_refusal(tenant, tpm, want, wait, rate_headers(("tokens", tpm, level)))
        assert self.verdict is Verdict.OVER_BUDGET, self.verdict
        budget, _ = counted[self.budget]
        window = windows[budget.window]
        return budget_refusal(tenant, budget, window, self.left, ticket.bound, now)


def admit(
    keys: Keys, ticket: Ticket, policy: Policy, counted: Counted, force: bool, now: float
) -> Call:
    record = {
        "t": ticket.tenant,
        "m": ticket.model,
        "b": ticket.bound,
        "k": [key for _, key in counted],
        "q": ticket.ref,
        "at": now,
    }
    tenant = ticket.tenant
    return Call(
        Script.ADMIT,
        [
            keys.of("rate", tenant), keys.of("conc", tenant), keys.mine("res"),
            keys.mine("tenants"), keys.mine("inflight"), keys.of("seeded"),
            *(key for _, key in counted),
        ],
        [
            keys.replica, ticket.id, opt(policy.rpm), opt(policy.tpm), opt(policy.concurrent),
            ticket.tokens, ticket.bound, int(policy.budget_mode == "strict"), int(force),
            orjson.dumps(record).decode(), BUDGET_TTL_S, tenant,
            *(limit.nanos for limit, _ in counted),
        ],
    )  # fmt: skip


# ------------------------------------------------------------------ settling


def release(keys: Keys, ticket: Ticket, tokens: int, tpm: str) -> Call:
    """The concurrency share back, and the tokens estimated beyond ``tokens`` used."""
    return Call(
        Script.RELEASE,
        [keys.mine("inflight"), keys.of("conc", ticket.tenant), keys.of("rate", ticket.tenant)],
        [ticket.id, keys.replica, ticket.tokens - tokens, tpm],
    )


def settle(keys: Keys, ticket: Ticket, cost: int) -> Call:
    """The budget reservation becomes ``cost`` (0 gives it back unspent)."""
    held = [keys.mine("res"), *map(keys.budget, ticket.counters)]
    return Call(Script.SETTLE, held, [ticket.id, -ticket.bound, cost])


def applied(raw: object) -> bool:
    """Whether an idempotent script found its reservation (0: already done, or lost)."""
    return bool(int(cast(int, raw)))


def open_session(keys: Keys, tenant: str, limit: int | None) -> Call:
    return Call(
        Script.OPEN_SESSION,
        [keys.of("sess", tenant), keys.mine("tenants")],
        [keys.replica, opt(limit), tenant],
    )


def close_session(keys: Keys, tenant: str) -> Call:
    return Call(Script.CLOSE_SESSION, [keys.of("sess", tenant)], [keys.replica])


# ------------------------------------------------------------------ seeding and reclaiming


def add_spend(totals: dict[str, int]) -> Call:
    return Call(Script.ADD_SPEND, list(totals), [BUDGET_TTL_S, *totals.values()])


def seed(keys: Keys, spend: dict[CounterKey, int], epoch: bytes) -> Call:
    counters = [keys.of("seeded"), *map(keys.budget, spend)]
    return Call(Script.SEED, counters, [BUDGET_TTL_S, epoch.decode(), *spend.values()])


def claim(keys: Keys, replica: str) -> Call:
    return Call(
        Script.CLAIM,
        [
            keys.of("alive", replica), keys.of("res", replica), keys.of("tenants", replica),
            keys.of("claimed", replica), keys.of("inflight", replica), keys.of("replicas"),
            keys.of("claiming"),
        ],
        [replica, keys.prefix],
    )  # fmt: skip


def claimed(keys: Keys, replica: str) -> Call:
    return Call(Script.CLAIMED, [keys.of("claimed", replica), keys.of("claiming")], [replica])


def settle_orphan(keys: Keys, replica: str, orphan: Orphan, held: list[str], cost: int) -> Call:
    claimed_by = keys.of("claimed", replica)
    return Call(Script.SETTLE, [claimed_by, *held], [orphan.ticket, -orphan.bound, cost])


def orphans(raw: object) -> list[tuple[Orphan, list[str]]] | None:
    """``CLAIM``'s reply: None while the replica is alive, else its reservations and keys."""
    if raw is None:
        return None
    flat = cast(list[bytes], raw)
    return [_orphan(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


def _orphan(field: bytes, value: bytes) -> tuple[Orphan, list[str]]:
    rec = orjson.loads(value)
    ref = rec.get("q")
    orphan = Orphan(
        field.decode(), rec["t"], rec["m"], int(rec["b"]),
        (ref[0], int(ref[1])) if ref else None, float(rec["at"]),
    )  # fmt: skip
    return orphan, list(rec["k"])


def opt(value: int | None) -> str:
    return "" if value is None else str(value)


def _float(raw: object) -> float:
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return float(text) if text else 0.0
