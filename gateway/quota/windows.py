"""Calendar budget windows (day, month) in the operator's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

WindowKind = Literal["day", "month"]


@dataclass(frozen=True, slots=True)
class Window:
    kind: WindowKind
    key: str  # 2026-11-25 or 2026-11
    starts_at: datetime  # aware, UTC
    resets_at: datetime  # aware, UTC


def current_windows(now: datetime, tz: ZoneInfo) -> dict[WindowKind, Window]:
    local = now.astimezone(tz)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    next_day = (day_start + timedelta(days=1, hours=2)).replace(hour=0)  # DST-safe
    month_start = day_start.replace(day=1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    return {
        "day": Window("day", day_start.strftime("%Y-%m-%d"), _utc(day_start), _utc(next_day)),
        "month": Window(
            "month", month_start.strftime("%Y-%m"), _utc(month_start), _utc(next_month)
        ),
    }


def _utc(local: datetime) -> datetime:
    return local.astimezone(UTC)
