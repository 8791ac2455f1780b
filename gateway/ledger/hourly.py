"""Hourly spend history for forecasts: nanos per local hour, per (tenant, service, tags).

Forecasts need weeks of hourly spend for every scope of every tenant, refreshed
every minute, over a ledger that can hold millions of rows. The database sums
rows per (tenant, service, tags, UTC quarter-hour) (`usage_report`'s bucket
expression), so a refresh moves one row per group and bucket, not per call;
Python puts each quarter-hour into its local hour (exact for every offset in
use, all whole quarter-hours) and splits the tags text into scopes later.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from gateway.ledger.queries import bucket_instant, quarter_hour_bucket
from gateway.ledger.record import TABLE as _TABLE
from gateway.ledger.record import as_utc

SpendKey = tuple[str, str | None, str | None]
"""(tenant, service, canonical tags text) of a group of calls."""

Hourly = dict[datetime, int]
"""Nanos per local hour start (aware, in the accounting time zone)."""


def hourly_spend(
    engine: Engine, since: datetime, tz: tzinfo, until: datetime | None = None
) -> dict[SpendKey, Hourly]:
    """Cost per local hour of the rows in [since, until) (naive = UTC), per spend key.

    `since` should be a local hour start (or the first hour is partial); hours with
    no cost are absent.
    """
    t = _TABLE
    bucket = quarter_hour_bucket(engine.dialect.name, t.c.ts)
    keys = (t.c.tenant, t.c.service, t.c.tags, bucket)
    stmt = select(*keys, func.sum(t.c.cost_nanos)).where(t.c.ts >= as_utc(since))
    if until is not None:
        stmt = stmt.where(t.c.ts < as_utc(until))
    stmt = stmt.group_by(*keys)
    out: dict[SpendKey, Hourly] = {}
    with engine.connect() as conn:
        for tenant, service, tags, quarter, total in conn.execute(stmt):
            if not total:
                continue
            local = bucket_instant(quarter).astimezone(tz)
            hour = local.replace(minute=0, second=0, microsecond=0)
            hourly = out.setdefault((tenant, service, tags), {})
            hourly[hour] = hourly.get(hour, 0) + int(total)
    return out


def merge_into(into: dict[SpendKey, Hourly], more: Mapping[SpendKey, Hourly]) -> None:
    """Add `more`'s hours to `into`'s (the same hour in both is summed)."""
    for key, hours in more.items():
        target = into.setdefault(key, {})
        for hour, nanos in hours.items():
            target[hour] = target.get(hour, 0) + nanos
