"""The Lua scripts as typed calls: their keys and arguments are built, and their replies
decoded, here and nowhere else (the scripts themselves and the key layout are in `lua`).

An admit's reply becomes a `verdicts.Verdict`; the refusal a client sees is worded by
`gateway.quota.errors`, as for the in-process store.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

import orjson
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.exceptions import NoScriptError

from gateway.config.runtime import Policy
from gateway.quota.budgets import service_limits
from gateway.quota.orphans import CounterKey, Orphan
from gateway.quota.shared import lua
from gateway.quota.shared.connection import STORE_ERRORS, Client
from gateway.quota.shared.keys import Keys
from gateway.quota.shared.verdicts import Counted
from gateway.quota.ticket import Ticket

BUDGET_TTL_S = 40 * 86400  # a month window's counters outlive the month, then go


class Script(StrEnum):
    ADMIT = "admit"
    SETTLE = "settle"
    ADD_SPEND = "add_spend"
    OPEN_SESSION = "open_session"
    CLOSE_SESSION = "close_session"
    CLAIM = "claim"
    SEED = "seed"
    REGISTER = "register"


_SOURCES = {
    Script.ADMIT: lua.ADMIT,
    Script.SETTLE: lua.SETTLE,
    Script.ADD_SPEND: lua.ADD_SPEND,
    Script.OPEN_SESSION: lua.OPEN_SESSION,
    Script.CLOSE_SESSION: lua.CLOSE_SESSION,
    Script.CLAIM: lua.CLAIM,
    Script.SEED: lua.SEED,
    Script.REGISTER: lua.REGISTER,
}


Arg = str | int


@dataclass(frozen=True, slots=True)
class Call:
    script: Script
    keys: list[str]
    args: list[Arg]


@dataclass(frozen=True, slots=True)
class Part:
    """One call's share of a batched script (``ADMIT`` or ``SETTLE``): calls whose
    ``group`` is the same go in one script call of a courier round."""

    script: Script
    keys: tuple[str, ...]
    shared: tuple[Arg, ...]  # the same for every part of a group
    item: tuple[Arg, ...]  # this call's own arguments
    tenant: str = ""
    service: str = ""  # an admit or release of a service with limits of its own

    @property
    def group(self) -> tuple[Script, tuple[str, ...], tuple[Arg, ...]]:
        return self.script, self.keys, self.shared


ADMIT_REPLY = 5  # values per admit in ``ADMIT``'s reply


class Scripts:
    """The scripts as loaded into Redis, whose cache goes when it restarts (NOSCRIPT).

    In a Cluster each primary has its own cache: a shard that restarted is loaded
    again on its own, when it answers NOSCRIPT, while another may be down.
    """

    def __init__(self, redis: Client) -> None:
        self._redis = redis
        # Redis names a script by the SHA-1 of its source (an identifier, not security).
        self._shas = {
            s: hashlib.sha1(src.encode(), usedforsecurity=False).hexdigest()
            for s, src in _SOURCES.items()
        }

    async def load(self, keys: list[str] | None = None) -> None:
        """Into the server, or the shard serving ``keys[0]`` (None: every primary that answers)."""
        redis = self._redis
        if not isinstance(redis, RedisCluster):
            for source in _SOURCES.values():
                await redis.script_load(source)
            return
        nodes = [redis.get_node_from_key(keys[0])] if keys else redis.get_primaries()
        loaded = 0
        for node in nodes:
            try:
                for source in _SOURCES.values():
                    await redis.execute_command("SCRIPT LOAD", source, target_nodes=node)
                loaded += 1
            except STORE_ERRORS:
                if keys or (loaded == 0 and node is nodes[-1]):
                    raise

    def add_to(self, pipe: Pipeline | ClusterPipeline, call: Call) -> None:
        pipe.execute_command(
            "EVALSHA", self._shas[call.script], len(call.keys), *call.keys, *call.args
        )

    async def run(self, call: Call) -> object:
        """One script on its own (not through the courier), loading the scripts again if need be."""
        try:
            return await self._eval(call)
        except NoScriptError:  # Redis restarted and lost its script cache
            await self.load(call.keys or None)
            return await self._eval(call)

    async def _eval(self, call: Call) -> object:
        reply: object = await self._redis.execute_command(
            "EVALSHA", self._shas[call.script], len(call.keys), *call.keys, *call.args
        )
        return reply


# ------------------------------------------------------------------ admission


def admit(
    keys: Keys, ticket: Ticket, policy: Policy, counted: Counted, force: bool, now: float
) -> Part:
    """One admit: batched with the tenant's other admits (same policy and budgets) and
    its releases, in one ``ADMIT`` per courier round."""
    record = {
        "t": ticket.tenant,
        "m": ticket.model,
        "b": ticket.bound,
        "k": [key for _, key in counted],
        "q": ticket.ref,
        "at": now,
        "s": ticket.attribution[0],
        "g": ticket.attribution[1],
    }
    limits = service_limits(policy, ticket.service)
    service = ticket.service or ""
    svc: tuple[Arg, ...] = ("", "", "")
    if limits is not None:
        svc = (opt(limits.rpm), opt(limits.tpm), opt(limits.concurrent))
    budgets: list[Arg] = []
    for limit, _ in counted:
        budgets += (limit.nanos, int(limit.refuses(policy)))
    return Part(
        Script.ADMIT,
        (*service_keys(keys, ticket.tenant, service), *(key for _, key in counted)),
        (
            opt(policy.rpm), opt(policy.tpm), opt(policy.concurrent),
            int(holds_share(policy, ticket.service)), service, *svc, *budgets,
        ),
        (ticket.id, ticket.tokens, ticket.bound, int(force), orjson.dumps(record).decode()),
        ticket.tenant,
        service,
    )  # fmt: skip


def holds_share(policy: Policy, service: str | None = None) -> bool:
    """Whether an admitted call holds something its release gives back when it ends."""
    if policy.concurrent is not None or policy.tpm is not None:
        return True
    limits = service_limits(policy, service)
    return limits is not None and (limits.concurrent is not None or limits.tpm is not None)


def admit_call(
    keys: Keys, tenant: str, service: str, admits: list[Part], releases: list[Part]
) -> Call:
    """One tenant's (or service's) round: its releases, then its admits (all of one group)."""
    if admits:
        head = admits[0]
        call_keys, shared = list(head.keys), list(head.shared)
    else:
        call_keys = list(service_keys(keys, tenant, service))
        shared = ["", "", "", 0, service, "", "", ""]
    args: list[Arg] = [keys.replica, BUDGET_TTL_S, len(releases), len(admits), *shared]
    for part in (*releases, *admits):
        args.extend(part.item)
    return Call(Script.ADMIT, call_keys, args)


def admit_replies(raw: object) -> list[list[Any]]:
    flat = cast(list[Any], raw)
    return [flat[i : i + ADMIT_REPLY] for i in range(0, len(flat), ADMIT_REPLY)]


@functools.lru_cache(maxsize=4096)
def tenant_keys(keys: Keys, tenant: str) -> tuple[str, ...]:
    """The tenant's keys every ``ADMIT`` takes, in its order (built once per tenant)."""
    return (
        keys.tenant("rate", tenant), keys.tenant("conc", tenant), keys.res(tenant),
        keys.inflight(tenant), keys.tenant("seeded", tenant),
    )  # fmt: skip


@functools.lru_cache(maxsize=4096)
def service_keys(keys: Keys, tenant: str, service: str) -> tuple[str, ...]:
    """``tenant_keys`` and the service's own rate and concurrency keys (the tenant's when it
    has no limits: every ``ADMIT`` takes the same number of keys)."""
    base = tenant_keys(keys, tenant)
    if not service:
        return (*base, base[0], base[1])
    return (*base, keys.tenant("rate", tenant, "svc", service), keys.tenant("sconc", tenant))


# ------------------------------------------------------------------ settling


def release(ticket: Ticket, tokens: int, tpm: str, service_tpm: str = "") -> Part:
    """The concurrency share back, and the tokens estimated beyond ``tokens`` used (sent
    with the tenant's, or its service's, next round of admits)."""
    item = (ticket.id, ticket.tokens - tokens, tpm, service_tpm)
    return Part(Script.ADMIT, (), (), item, ticket.tenant, ticket.service or "")


def settle(keys: Keys, ticket: Ticket, cost: int) -> Part:
    """The budget reservation becomes ``cost`` (0 gives it back unspent)."""
    held = (tenant_keys(keys, ticket.tenant)[2], *map(keys.budget, ticket.counters))
    return Part(Script.SETTLE, held, (), (ticket.id, ticket.bound, cost), ticket.tenant)


def settle_call(parts: list[Part]) -> Call:
    args: list[Arg] = []
    for part in parts:
        args.extend(part.item)
    return Call(Script.SETTLE, list(parts[0].keys), args)


def settled(raw: object) -> list[bool]:
    """``SETTLE``'s reply: whether each settle found its reservation."""
    return [bool(int(x)) for x in cast(list[Any], raw)]


def applied(raw: object) -> bool:
    """Whether an idempotent script found its reservation (0: already done, or lost)."""
    return bool(int(cast(int, raw)))


def register(keys: Keys, tenant: str) -> Call:
    return Call(Script.REGISTER, [keys.mine("tenants")], [tenant])


def open_session(keys: Keys, tenant: str, limit: int | None) -> Call:
    return Call(Script.OPEN_SESSION, [keys.tenant("sess", tenant)], [keys.replica, opt(limit)])


def close_session(keys: Keys, tenant: str) -> Call:
    return Call(Script.CLOSE_SESSION, [keys.tenant("sess", tenant)], [keys.replica])


# ------------------------------------------------------------------ seeding and reclaiming


def add_spend(totals: dict[str, int]) -> Call:
    """One tenant's spend (its keys are on one slot)."""
    return Call(Script.ADD_SPEND, list(totals), [BUDGET_TTL_S, *totals.values()])


def seed(keys: Keys, tenant: str, spend: dict[CounterKey, int], epoch: bytes) -> Call:
    counters = [keys.tenant("seeded", tenant), *map(keys.budget, spend)]
    return Call(Script.SEED, counters, [BUDGET_TTL_S, epoch.decode(), *spend.values()])


def claim(keys: Keys, tenant: str, replica: str) -> Call:
    return Call(
        Script.CLAIM,
        [
            keys.tenant("conc", tenant), keys.tenant("sess", tenant),
            keys.res(tenant, replica), keys.inflight(tenant, replica),
            keys.tenant("claimed", tenant, replica), keys.tenant("sconc", tenant),
        ],
        [replica],
    )  # fmt: skip


def settle_orphans(
    keys: Keys, tenant: str, replica: str, held: list[str], orphans: list[tuple[Orphan, int]]
) -> Call:
    """Claimed reservations of one tenant (counting against ``held``) charged their costs."""
    args: list[Arg] = []
    for orphan, cost in orphans:
        args.extend((orphan.ticket, orphan.bound, cost))
    return Call(Script.SETTLE, [keys.tenant("claimed", tenant, replica), *held], args)


def orphans(raw: object) -> list[tuple[Orphan, list[str]]]:
    """``CLAIM``'s reply: the dead replica's reservations on one tenant, and their keys."""
    flat = cast(list[bytes], raw)
    return [_orphan(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


def _orphan(field: bytes, value: bytes) -> tuple[Orphan, list[str]]:
    rec = orjson.loads(value)
    ref = rec.get("q")
    orphan = Orphan(
        field.decode(), rec["t"], rec["m"], int(rec["b"]),
        (ref[0], int(ref[1])) if ref else None, float(rec["at"]),
        service=rec.get("s"), tags=rec.get("g"),  # absent from older reservations
    )  # fmt: skip
    return orphan, list(rec["k"])


def opt(value: int | None) -> str:
    return "" if value is None else str(value)
