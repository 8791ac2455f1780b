"""Admission control in one process: rate limits, concurrency and budget reservations.

Every check and its update happen in one synchronous call on the event loop,
so no other request can interleave between "does it fit?" and "reserve it":
that is what makes strict budgets hold under any concurrency here. Several
processes share `gateway.quota.shared.RedisQuota` instead, which keeps this
class for its fail-open fallback; `gateway.quota.guard` stops two processes
from each running one of these over the same ledger.

A reservation holds the call's cost *bound* against every budget window it
touches; settling replaces the bound with the real cost. Spent amounts are
rebuilt from the ledger at start-up, so a restart resets no budget.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from gateway.config.runtime import Policy
from gateway.quota.bucket import TokenBucket, rate_headers
from gateway.quota.budgets import applicable, counter_key, holds_nothing, service_limits
from gateway.quota.errors import (
    budget_refusal,
    concurrency_refusal,
    rpm_refusal,
    tpm_refusal,
    usd,
)
from gateway.quota.orphans import CounterKey, LedgerLink, SpendSource
from gateway.quota.ticket import BudgetStatus, Ticket, unlimited_ticket
from gateway.quota.windows import Window, WindowKind, current_windows

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Counter:
    spent: int = 0
    reserved: int = 0
    limit: int = 0  # set when a call first reserves against it
    window: str = ""


@dataclass(slots=True)
class _TenantState:
    rpm: TokenBucket | None = None
    tpm: TokenBucket | None = None
    in_flight: int = 0
    sessions: int = 0  # realtime sessions open


class MemoryQuota:
    def __init__(self, tz: ZoneInfo) -> None:
        self._tz = tz
        self._tenants: dict[str, _TenantState] = {}
        self._counters: dict[CounterKey, _Counter] = {}
        # The windows change twice a month at most; computing them is most of an admit.
        self._windows: tuple[float, float, dict[WindowKind, Window]] | None = None

    def load_spend(self, spent: Mapping[CounterKey, int]) -> None:
        """Seed spent amounts (from the ledger) for the current windows."""
        for key, nanos in spent.items():
            self._counters.setdefault(key, _Counter()).spent += nanos

    def set_spent(self, spent: Mapping[CounterKey, int]) -> None:
        """Replace spent amounts (a shared store's last levels, when it becomes unreachable)."""
        for key, nanos in spent.items():
            self._counters.setdefault(key, _Counter()).spent = nanos

    def windows(self, now: float) -> dict[WindowKind, Window]:
        cached = self._windows
        if cached is not None and cached[0] <= now < cached[1]:
            return cached[2]
        windows = current_windows(datetime.fromtimestamp(now, UTC), self._tz)
        starts = max(w.starts_at for w in windows.values()).timestamp()
        ends = min(w.resets_at for w in windows.values()).timestamp()
        self._windows = (starts, ends, windows)
        return windows

    def tenants(self) -> list[str]:
        """Every tenant that has been admitted against a limit or budget."""
        return [t for t in self._tenants if "\x00" not in t]  # not a service's own state

    async def admit(
        self,
        tenant: str,
        model: str,
        policy: Policy,
        *,
        bound: int,
        tokens: int,
        now: float,
        force: bool = False,
        ref: tuple[str, int] | None = None,
        service: str | None = None,
        tags: str | None = None,
    ) -> Ticket:
        """`admit_now` behind the `Quota` interface (never suspends)."""
        ticket = self.admit_now(
            tenant, model, policy, bound=bound, tokens=tokens, now=now, force=force,
            service=service, tags=tags,
        )  # fmt: skip
        ticket.ref = ref
        return ticket

    def admit_now(
        self,
        tenant: str,
        model: str,
        policy: Policy,
        *,
        bound: int,
        tokens: int,
        now: float,
        force: bool = False,
        service: str | None = None,
        tags: str | None = None,
    ) -> Ticket:
        """Admit a call or raise; on success everything it needs is held.

        The call counts against its tenant's limits and, when its service has
        limits of its own, those too: it is admitted only if every one has room.
        ``force`` admits a call that is already running (a Realtime response the
        server started by itself): nothing is refused, an overdrawn budget is
        flagged as in soft mode, and the call is settled like any other.
        """
        if holds_nothing(policy):
            return unlimited_ticket(tenant, model, bound, tokens)
        state = self._state(tenant)
        rpm = _bucket(state, "rpm", policy.rpm, now)
        tpm = _bucket(state, "tpm", policy.tpm, now)
        limits = service_limits(policy, service)
        own: tuple[_TenantState, TokenBucket | None, TokenBucket | None] | None = None
        if limits is not None:  # the service's own state, checked and held with the tenant's
            s = self._state(f"{tenant}\x00{service}")
            own = (s, _bucket(s, "rpm", limits.rpm, now), _bucket(s, "tpm", limits.tpm, now))
        if not force:
            _check_flight(tenant, None, state, policy.concurrent)
            if own is not None and limits is not None:
                _check_flight(tenant, service, own[0], limits.concurrent)
            _check_rates(tenant, None, rpm, policy.rpm, tpm, policy.tpm, tokens, now)
            if own is not None and limits is not None:
                _check_rates(tenant, service, own[1], limits.rpm, own[2], limits.tpm, tokens, now)
        counters, over = self._reserve_budgets(
            tenant, model, policy, bound, now, force, service, tags
        )
        _take(state, rpm, tpm, tokens, now)
        if own is not None:
            _take(*own, tokens, now)
        for key in counters:
            self._counters[key].reserved += bound
        ticket = Ticket(tenant, model, bound, tokens, counters, _rate_headers(rpm, tpm, now), over)
        ticket.service = service if own is not None else None
        return ticket

    def _state(self, holder: str) -> _TenantState:
        state = self._tenants.get(holder)
        if state is None:
            state = self._tenants[holder] = _TenantState()
        return state

    async def open_session(self, tenant: str, limit: int | None) -> bool:
        return self.open_session_now(tenant, limit)

    def open_session_now(self, tenant: str, limit: int | None) -> bool:
        """Count a Realtime session in, unless the tenant already has ``limit`` open."""
        state = self._state(tenant)
        if limit is not None and state.sessions >= limit:
            return False
        state.sessions += 1
        return True

    def close_session(self, tenant: str) -> None:
        self._state(tenant).sessions -= 1

    def _reserve_budgets(
        self,
        tenant: str,
        model: str,
        policy: Policy,
        bound: int,
        now: float,
        soft: bool,
        service: str | None,
        tags: str | None,
    ) -> tuple[tuple[CounterKey, ...], bool]:
        if not policy.budgets:
            return (), False
        windows = self.windows(now)
        keys: list[CounterKey] = []
        over = False
        for limit in applicable(policy, model, service, tags):
            window = windows[limit.window]
            key = counter_key(tenant, limit, windows)
            counter = self._counters.setdefault(key, _Counter())
            counter.limit, counter.window = limit.nanos, limit.window
            left = limit.nanos - counter.spent - counter.reserved
            if bound > left:
                if limit.refuses(policy) and not soft:
                    raise budget_refusal(tenant, limit, window, left, bound, now)
                over = True
                log.warning(
                    "tenant %s over its %s budget (soft mode): %s left, call may cost %s",
                    tenant, limit.window, usd(max(left, 0)), usd(bound),
                )  # fmt: skip
            keys.append(key)
        return tuple(keys), over

    def settle(self, ticket: Ticket, cost: int, tokens: int, now: float) -> None:
        """Replace the reservation with the real cost; give unused tokens back."""
        if ticket.settled:
            return
        ticket.settled = True
        if ticket.unlimited:
            return
        if cost > ticket.bound:
            log.error(
                "cost %s exceeded its reservation %s (tenant %s, model %s): the bound is wrong",
                cost, ticket.bound, ticket.tenant, ticket.model,
            )  # fmt: skip
        for key in ticket.counters:
            counter = self._counters[key]
            counter.reserved -= ticket.bound
            counter.spent += cost
        holders = [ticket.tenant]
        if ticket.service is not None:
            holders.append(f"{ticket.tenant}\x00{ticket.service}")
        for holder in holders:
            state = self._tenants[holder]
            state.in_flight -= 1
            if state.tpm is not None and tokens < ticket.tokens:
                state.tpm.give_back(ticket.tokens - tokens, now)
            elif state.tpm is not None and tokens > ticket.tokens:
                state.tpm.take_anyway(tokens - ticket.tokens, now)

    def adjust(self, counters: tuple[CounterKey, ...], nanos: int) -> None:
        """Counters of a window that has ended are gone: nothing to move there."""
        for key in counters:
            counter = self._counters.get(key)
            if counter is not None:
                counter.spent += nanos

    async def budget_status(self, tenant: str, policy: Policy, now: float) -> list[BudgetStatus]:
        return self.status(tenant, policy, now)

    async def start(self, spend: SpendSource, orphans: LedgerLink) -> None:
        """Start from this window's spend in the ledger (one process: nothing is orphaned)."""
        self.load_spend(await asyncio.to_thread(spend))

    async def drain(self) -> None:
        """Settles are applied at once here: nothing is ever queued."""

    async def aclose(self) -> None:
        """Nothing to release: the interface's hook for the shared store."""

    def status(self, tenant: str, policy: Policy, now: float) -> list[BudgetStatus]:
        windows = self.windows(now)
        out = []
        for limit in policy.budgets:
            window = windows[limit.window]
            c = self._counters.get(counter_key(tenant, limit, windows), _Counter())
            out.append(
                BudgetStatus(
                    limit.window,
                    limit.model,
                    limit.nanos,
                    c.spent,
                    c.reserved,
                    window.resets_at,
                    limit.scope,
                )
            )
        return out


def _bucket(state: _TenantState, kind: str, limit: int | None, now: float) -> TokenBucket | None:
    bucket: TokenBucket | None = getattr(state, kind)
    if limit is None:
        return None
    if bucket is None or bucket.capacity != limit:  # new, or the limit changed in config
        bucket = TokenBucket.per_minute(limit, now)
        setattr(state, kind, bucket)
    return bucket


def _check_flight(tenant: str, service: str | None, state: _TenantState, limit: int | None) -> None:
    if limit is not None and state.in_flight >= limit:
        raise concurrency_refusal(tenant, state.in_flight, limit, service=service)


def _take(
    state: _TenantState,
    rpm: TokenBucket | None,
    tpm: TokenBucket | None,
    tokens: int,
    now: float,
) -> None:
    if rpm is not None:
        rpm.take_anyway(1, now)
    if tpm is not None:
        tpm.take_anyway(tokens, now)
    state.in_flight += 1


def _check_rates(
    tenant: str,
    service: str | None,
    rpm: TokenBucket | None,
    rpm_limit: int | None,
    tpm: TokenBucket | None,
    tpm_limit: int | None,
    tokens: int,
    now: float,
) -> None:
    if rpm is not None and rpm_limit is not None and rpm.remaining(now) < 1:
        wait = rpm.seconds_until(1, now)
        headers = _rate_headers(rpm, tpm, now)
        raise rpm_refusal(tenant, rpm_limit, wait, headers, service)
    if tpm is not None and tpm_limit is not None and tpm.remaining(now) < tokens:
        wait = tpm.seconds_until(tokens, now)
        headers = _rate_headers(rpm, tpm, now)
        raise tpm_refusal(tenant, tpm_limit, tokens, wait, headers, service)


def _rate_headers(rpm: TokenBucket | None, tpm: TokenBucket | None, now: float) -> dict[str, str]:
    return rate_headers(*(
        (name, int(b.capacity), b.level_at(now))
        for name, b in (("requests", rpm), ("tokens", tpm))
        if b is not None
    ))  # fmt: skip
