"""Fakes at the alerts' edges: a clock, the quota's levels, a webhook transport, signals."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.alerts.delivery import PostFailed
from gateway.alerts.signals import SpendSignal
from gateway.config import GatewayConfig, Policy, RuntimeConfig, compile_config
from gateway.quota.ticket import BudgetStatus
from gateway.quota.windows import Window, WindowKind, current_windows

START = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)
DAY_END = datetime(2026, 12, 6, tzinfo=UTC)
MONTH_END = datetime(2027, 1, 1, tzinfo=UTC)
USD = 1_000_000_000
SECRET = "whsec-test-0123456789"
ENV = {"HOOK_SECRET": SECRET}


class Clock:
    """Time that moves only when told (or when something sleeps)."""

    def __init__(self, at: datetime = START) -> None:
        self.now = at.timestamp()
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def runtime(
    alerts: Mapping[str, Any] | None = None,
    tenants: Mapping[str, Any] | None = None,
    env: Mapping[str, str] = ENV,
    defaults: Mapping[str, Any] | None = None,
) -> RuntimeConfig:
    """A config with one signed JSON webhook ``hook`` and tenant ``acme`` ($10/day, $100/month)."""
    section = {
        "webhooks": {"hook": {"url": "http://hooks.test/in?token=q", "secret_env": "HOOK_SECRET"}},
        "delivery": {"attempts": 3, "base_delay_s": 1, "max_delay_s": 10},
        **(alerts or {}),
    }
    budgets = {"budgets": {"daily_usd": 10, "monthly_usd": 100}}
    cfg = GatewayConfig.model_validate(
        {
            "models": {"gpt-5-nano": {}},
            "tenants": tenants or {"acme": budgets},
            "alerts": section,
            "defaults": defaults,
        }
    )
    return compile_config(cfg, env)


@dataclass
class Levels:
    """The quota as the alerts read it: set what each tenant has spent."""

    clock: Clock
    spent: dict[tuple[str, str | None, str], int] = field(default_factory=dict)
    down: bool = False
    reads: int = 0

    async def budget_status(self, tenant: str, policy: Policy, now: float) -> list[BudgetStatus]:
        self.reads += 1
        if self.down:
            raise ConnectionError("store down")
        windows = self.windows(now)
        return [
            BudgetStatus(
                b.window,
                b.model,
                b.nanos,
                self.spent.get((tenant, b.scope, b.window), 0),
                0,
                windows[b.window].resets_at,
                b.scope,
            )
            for b in policy.budgets
        ]

    def tenants(self) -> list[str]:
        return sorted({t for t, _, _ in self.spent})

    def windows(self, now: float) -> dict[WindowKind, Window]:
        return current_windows(datetime.fromtimestamp(now, UTC), ZoneInfo("UTC"))

    def spend(self, tenant: str, usd: float, window: str = "day", scope: str | None = None) -> None:
        self.spent[tenant, scope, window] = int(usd * USD)


@dataclass
class Post:
    url: str
    body: bytes
    headers: dict[str, str]


class Poster:
    """A webhook that answers each POST with the next scripted status (then 200s); an
    exception in the script is raised instead, like a connection refused."""

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.posts: list[Post] = []
        self.hang: asyncio.Event | None = None  # set: the POST waits on it forever
        self.reached: asyncio.Event | None = None  # set when a POST is made
        self.closed = False

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> int:
        self.posts.append(Post(url, body, dict(headers)))
        if self.reached is not None:
            self.reached.set()
        if self.hang is not None:
            await self.hang.wait()
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def aclose(self) -> None:
        self.closed = True


REFUSED = PostFailed("ClientConnectorError")


class Signals:
    def __init__(self) -> None:
        self.items: list[SpendSignal] = []

    async def signals(self, now: datetime) -> Sequence[SpendSignal]:
        return list(self.items)

    def add(
        self,
        scope: str | None,
        *,
        hour: datetime = START,
        exhausts_in: timedelta | None = None,
        score: float | None = None,
        tenant: str = "acme",
    ) -> None:
        exhausts = hour + exhausts_in if exhausts_in is not None else None
        self.items.append(SpendSignal(tenant, scope, "month", hour, exhausts, score))
