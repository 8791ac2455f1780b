"""Reading the ledger: spend for rebuilding budgets, usage reports for people and scripts.

Plain synchronous functions over an `Engine`; async callers run them in a thread.
The same code serves SQLite and PostgreSQL.

Day and month buckets are in a caller-chosen IANA time zone, and SQL date
functions differ between the two databases, so the database only groups rows
by UTC quarter-hour (an epoch integer, one small expression per dialect) and
Python assigns each quarter-hour to its local day. That is exact because every
time zone offset in use today is a whole number of quarter-hours (+05:45,
+12:45 and -09:30 included), so no local midnight falls inside one. On other
databases the rows are grouped by their raw timestamp instead: slower, same result.

Grouping by a tag (``tag:feature``) reads that key's value out of the ledger's
canonical tags text (``env=prod,feature=search``) with plain string functions,
in SQL, so a report never fetches a row per tag combination; calls without the
tag form one ``(none)`` group.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    String,
    case,
    cast,
    distinct,
    extract,
    func,
    literal_column,
    select,
)
from sqlalchemy.engine import Engine

from gateway.ledger.record import TABLE as _TABLE
from gateway.ledger.record import as_utc

GROUP_KEYS = (
    "day", "month", "tenant", "subject", "route", "model", "endpoint", "service", "shadow_of",
)  # fmt: skip
"""What `usage_report` can group by ("subject" is the token's ``sub``; "service" the
service inside the tenant as configured, "other" for unlisted ones, None without
``services:``; "model" is the requested model; "shadow_of" the tenant a shadow call
copied, None for the clients' own calls); and one ``tag:<key>`` (that tag's value)."""

ROW_KEYS = (*GROUP_KEYS, "tag")
"""A report row's keys: the group keys, and the grouped tag's value."""

OPTIONAL_KEYS = ("service", "tag", "shadow_of")
"""Keys a CSV report has a column for only when a row has a value for them: reports
from before they existed keep their columns."""

TAG_PREFIX = "tag:"
NO_TAG = "(none)"
"""The tag value of the calls that did not carry the tag grouped by."""

_TAG_KEY = re.compile(r"[a-z][a-z0-9_.-]{0,31}")  # as the config allows (TagsPolicy.keys)

TOKEN_FIELDS = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "audio_input_tokens",
    "cached_audio_input_tokens",
    "audio_output_tokens",
    "image_input_tokens",
)

_QUARTER_HOUR_S = 900
_COLUMN_OF_KEY = {
    "tenant": "tenant",
    "subject": "subject",
    "route": "route",
    "model": "requested_model",
    "endpoint": "endpoint",
    "service": "service",
    "shadow_of": "shadow_of",
}


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One group of a usage report; the keys not grouped by are None."""

    day: str | None = None  # YYYY-MM-DD in the report's time zone
    month: str | None = None  # YYYY-MM in the report's time zone
    tenant: str | None = None
    subject: str | None = None  # the calling service (the token's sub)
    route: str | None = None
    model: str | None = None  # the requested model
    endpoint: str | None = None
    service: str | None = None  # the service inside the tenant (`services:`)
    shadow_of: str | None = None  # a shadow call: the tenant it copied (`gateway.shadow`)
    tag: str | None = None  # the value of the tag grouped by; NO_TAG for calls without it
    requests: int = 0  # client requests (distinct request ids)
    attempts: int = 0  # upstream attempts: retries and escalations count here
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    audio_input_tokens: int = 0
    cached_audio_input_tokens: int = 0
    audio_output_tokens: int = 0
    image_input_tokens: int = 0
    cost_nanos: int = 0
    estimated_requests: int = 0
    unpriced_requests: int = 0

    @property
    def cost_usd(self) -> Decimal:
        return nanos_to_usd(self.cost_nanos)


SUM_FIELDS = (
    "requests",
    "attempts",
    *TOKEN_FIELDS,
    "cost_nanos",
    "estimated_requests",
    "unpriced_requests",
)


def nanos_to_usd(nanos: int) -> Decimal:
    """Nano-USD as USD with 6 places, rounded half up, exactly (no float on the way)."""
    with localcontext() as ctx:
        ctx.prec = max(28, len(str(abs(nanos))) + 8)
        return Decimal(nanos).scaleb(-9).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def spend_by_tenant_model(engine: Engine, since: datetime) -> dict[tuple[str, str], int]:
    """Cost in nano-USD per (tenant, requested model) of the rows at or after `since`.

    What budget counters are rebuilt from at start-up. A naive `since` is UTC.
    """
    t = _TABLE
    stmt = (
        select(t.c.tenant, t.c.requested_model, func.sum(t.c.cost_nanos))
        .where(t.c.ts >= as_utc(since))
        .group_by(t.c.tenant, t.c.requested_model)
    )
    with engine.connect() as conn:
        return {(tenant, model): int(total or 0) for tenant, model, total in conn.execute(stmt)}


ScopeKey = tuple[str, str, str | None, str | None]
"""(tenant, requested model, service, canonical tags text): every budget scope of a call."""


def spend_by_scope(engine: Engine, since: datetime) -> dict[ScopeKey, int]:
    """Cost in nano-USD per (tenant, requested model, service, tags) of the rows at or
    after `since` (naive = UTC).

    What service and tag budgets are rebuilt from: one row per combination, so the
    caller splits the tags text into its pairs (`gateway.policy.tags`) and sums.
    """
    t = _TABLE
    keys = (t.c.tenant, t.c.requested_model, t.c.service, t.c.tags)
    stmt = select(*keys, func.sum(t.c.cost_nanos)).where(t.c.ts >= as_utc(since)).group_by(*keys)
    with engine.connect() as conn:
        return {
            (tenant, model, service, tags): int(total or 0)
            for tenant, model, service, tags, total in conn.execute(stmt)
        }


def recorded_costs(engine: Engine, refs: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """Cost of each (request_id, attempt) the ledger has; absent ones are not in the result."""
    t = _TABLE
    wanted = set(refs)
    out: dict[tuple[str, int], int] = {}
    with engine.connect() as conn:
        for start in range(0, len(refs), 500):
            ids = sorted({r for r, _ in refs[start : start + 500]})
            stmt = select(t.c.request_id, t.c.attempt, t.c.cost_nanos).where(
                t.c.request_id.in_(ids)
            )
            for request_id, attempt, cost in conn.execute(stmt):
                if (request_id, attempt) in wanted:
                    out[(request_id, attempt)] = int(cost)
    return out


def usage_report(
    engine: Engine,
    *,
    tenant: str | None = None,
    model: str | None = None,
    service: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    group_by: Sequence[str] = ("day", "model"),
    tz: str = "UTC",
) -> list[UsageRow]:
    """Usage summed per group, sorted by the group keys in `group_by` order.

    `model` filters on the requested model, `service` on the service inside the
    tenant; `start` is inclusive, `end`
    exclusive, naive datetimes are UTC. Day and month are local to `tz`.
    Raises ValueError for an unknown group key or time zone.
    """
    keys, tag_key = _group_keys(group_by)
    zone = _zone(tz)
    t = _TABLE
    key_columns = [
        c for k in keys if (c := _key_column(k, tag_key, engine.dialect.name)) is not None
    ]
    named = [k for k in keys if k in _COLUMN_OF_KEY or k == "tag"]
    by_time = "day" in keys or "month" in keys
    bucket: ColumnElement[Any] | None = None
    if by_time:
        bucket = quarter_hour_bucket(engine.dialect.name, t.c.ts)
    group_columns: list[ColumnElement[Any]] = [
        *key_columns,
        *([bucket] if bucket is not None else []),
    ]
    stmt = select(
        *group_columns,
        # A request's attempts share its start time (`ts`), hence its time bucket, so
        # summing buckets into days never counts one request twice.
        func.count(distinct(t.c.request_id)),
        func.count(),
        *(func.sum(t.c[name]) for name in TOKEN_FIELDS),
        func.sum(t.c.cost_nanos),
        func.sum(case((t.c.estimated, 1), else_=0)),
        func.sum(case((t.c.unpriced, 1), else_=0)),
    )
    stmt = stmt.where(*_conditions(tenant, model, service, start, end))
    if group_columns:
        stmt = stmt.group_by(*group_columns)

    totals: dict[tuple[str | None, ...], list[int]] = {}
    with engine.connect() as conn:
        for row in conn.execute(stmt):
            values = dict(zip(named, row, strict=False))
            if tag_key is not None:
                values["tag"] = values["tag"] or NO_TAG
            rest = row[len(key_columns) :]
            if bucket is not None:
                local = bucket_instant(rest[0]).astimezone(zone)
                values["day"] = local.strftime("%Y-%m-%d")
                values["month"] = local.strftime("%Y-%m")
                rest = rest[1:]
            group = tuple(values[k] if k in keys else None for k in ROW_KEYS)
            sums = totals.setdefault(group, [0] * len(SUM_FIELDS))
            for i, v in enumerate(rest):
                sums[i] += int(v or 0)

    rows = [
        UsageRow(**_as_kwargs(group, sums))
        for group, sums in totals.items()
        if sums[0] > 0  # no group_by and no rows: SQL still answers one row of zeros
    ]
    rows.sort(key=lambda r: tuple(_sortable(getattr(r, k)) for k in keys))
    return rows


def _conditions(
    tenant: str | None,
    model: str | None,
    service: str | None,
    start: datetime | None,
    end: datetime | None,
) -> list[ColumnElement[bool]]:
    """A report's filters: the rows of this tenant, model and service, in this window."""
    t = _TABLE
    out = []
    if tenant is not None:
        out.append(t.c.tenant == tenant)
    if model is not None:
        out.append(t.c.requested_model == model)
    if service is not None:
        out.append(t.c.service == service)
    if start is not None:
        out.append(t.c.ts >= as_utc(start))
    if end is not None:
        out.append(t.c.ts < as_utc(end))
    return out


def _sortable(value: str | None) -> tuple[bool, str]:
    return (value is not None, value or "")  # rows without a subject or route first


def _as_kwargs(group: tuple[str | None, ...], sums: list[int]) -> dict[str, Any]:
    return {
        **dict(zip(ROW_KEYS, group, strict=True)),
        **dict(zip(SUM_FIELDS, sums, strict=True)),
    }


def _group_keys(group_by: Sequence[str]) -> tuple[tuple[str, ...], str | None]:
    """The group keys ("tag" standing for ``tag:<key>``) and the tag key, if any."""
    if isinstance(group_by, str):
        group_by = (group_by,)
    tag_keys = [tag_key_of(k) for k in group_by if k.startswith(TAG_PREFIX)]
    unknown = [k for k in group_by if k not in GROUP_KEYS and not k.startswith(TAG_PREFIX)]
    if unknown:
        choices = ", ".join((*GROUP_KEYS, "tag:<key>"))
        raise ValueError(f"cannot group usage by {', '.join(unknown)}; choose from {choices}")
    if len(set(tag_keys)) > 1:
        raise ValueError("usage groups by one tag key at a time")
    keys = ("tag" if k.startswith(TAG_PREFIX) else k for k in group_by)
    return tuple(dict.fromkeys(keys)), (tag_keys[0] if tag_keys else None)


def tag_key_of(group_key: str) -> str:
    """The tag key of ``tag:<key>``; ValueError unless it could be a configured key."""
    key = group_key.removeprefix(TAG_PREFIX)
    if not _TAG_KEY.fullmatch(key):
        raise ValueError(f"{group_key!r} names no possible tag key (lowercase, up to 32 chars)")
    return key


def _key_column(key: str, tag_key: str | None, dialect: str) -> ColumnElement[Any] | None:
    if key == "tag":
        assert tag_key is not None
        return _tag_value(_TABLE.c.tags, tag_key, dialect)
    column = _COLUMN_OF_KEY.get(key)
    return None if column is None else _TABLE.c[column]


def _tag_value(tags: ColumnElement[Any], key: str, dialect: str) -> ColumnElement[Any]:
    """SQL for `gateway.policy.tags.tag_value`: the text between ``,key=`` and the next
    comma in ``,tags,`` (NULL without the key). Values hold no ``,`` or ``=``, so the
    match is exact. Only the name of the position function differs by dialect; the key
    is inlined (it matched `_TAG_KEY`: no quote can be in it), like `_QUARTER` below."""
    position = getattr(func, "instr" if dialect == "sqlite" else "strpos")
    marker = f",{key}="
    comma = literal_column("','", String)
    padded = comma.concat(tags).concat(comma)
    at = position(padded, literal_column(f"'{marker}'", String))
    rest = func.substr(padded, at + _int(len(marker)))
    value = func.substr(rest, _int(1), position(rest, comma) - _int(1))
    return case((at > _int(0), value))


def _int(n: int) -> ColumnElement[int]:
    return literal_column(str(n), Integer)


def _zone(tz: str) -> tzinfo:
    if tz.upper() == "UTC":
        return UTC  # needs no tz database (slim images may lack one)
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc


def bucket_instant(value: Any) -> datetime:
    """The UTC start of a bucket: an epoch quarter-hour number, or a raw timestamp."""
    if isinstance(value, datetime):
        return as_utc(value)
    return datetime.fromtimestamp(int(value) * _QUARTER_HOUR_S, UTC)


# Constants are inlined, not bound: with server-side parameters (psycopg 3) the
# SELECT's and the GROUP BY's copies of a bound expression are different
# expressions to PostgreSQL, which then refuses the query.
_QUARTER = literal_column(str(_QUARTER_HOUR_S), Integer)


def _sqlite_quarter_hour(ts: ColumnElement[Any]) -> ColumnElement[Any]:
    # SQLite keeps naive UTC text; strftime('%s') reads it as UTC. Integer division floors.
    return cast(func.strftime(literal_column("'%s'"), ts), Integer) // _QUARTER


def _postgresql_quarter_hour(ts: ColumnElement[Any]) -> ColumnElement[Any]:
    return cast(func.floor(extract("epoch", ts) / _QUARTER), BigInteger)


_QUARTER_HOUR_BY_DIALECT: dict[str, Callable[[ColumnElement[Any]], ColumnElement[Any]]] = {
    "sqlite": _sqlite_quarter_hour,
    "postgresql": _postgresql_quarter_hour,
}


def quarter_hour_bucket(dialect: str, ts: ColumnElement[Any]) -> ColumnElement[Any]:
    """SQL of a row's time bucket: its epoch quarter-hour, or the raw timestamp on
    other databases (`bucket_instant` reads either back)."""
    to_bucket = _QUARTER_HOUR_BY_DIALECT.get(dialect)
    return to_bucket(ts) if to_bucket else ts
