"""Local-time hour arithmetic for forecasts.

Spend is bucketed per local hour in the accounting time zone, but hours are
stepped in UTC: a local day can have 23 or 25 hours around DST changes, and
stepping wall-clock time would skip or repeat a bucket.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo

HOUR = timedelta(hours=1)


def hour_start(moment: datetime, tz: tzinfo) -> datetime:
    """The start of the local hour holding `moment` (aware, in `tz`)."""
    local = moment.astimezone(tz)
    return local.replace(minute=0, second=0, microsecond=0)


def day_start(moment: datetime, tz: tzinfo) -> datetime:
    local = moment.astimezone(tz)
    return datetime(local.year, local.month, local.day, tzinfo=tz)


def next_day_start(moment: datetime, tz: tzinfo) -> datetime:
    """Local midnight after `moment`; via the date so a DST day is not 24 hours long."""
    local = moment.astimezone(tz)
    following = local.date() + timedelta(days=1)
    return datetime(following.year, following.month, following.day, tzinfo=tz)


def month_start(moment: datetime, tz: tzinfo) -> datetime:
    local = moment.astimezone(tz)
    return datetime(local.year, local.month, 1, tzinfo=tz)


def next_month_start(moment: datetime, tz: tzinfo) -> datetime:
    local = moment.astimezone(tz)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, tzinfo=tz)


def hours(start: datetime, end: datetime, tz: tzinfo) -> Iterator[datetime]:
    """Local hour starts from `start` (an hour start) up to, not including, `end`."""
    step = start.astimezone(UTC)
    stop = end.astimezone(UTC)
    while step < stop:
        yield step.astimezone(tz)
        step += HOUR
