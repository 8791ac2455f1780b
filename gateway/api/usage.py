"""Usage endpoints: a tenant's own spend and budgets, and the admins' view across tenants."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Annotated, Any, Literal, TypedDict, cast
from zoneinfo import ZoneInfo

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from gateway.auth.callers import Caller
from gateway.config.scopes import ScopeKind, describe_scope
from gateway.errors import BadRequest
from gateway.forecast.live_format import ForecastJSON, forecast_json, select
from gateway.ledger import (
    GROUP_KEYS,
    ROW_KEYS,
    TAG_PREFIX,
    TOKEN_FIELDS,
    UsageRow,
    format_usage,
    nanos_to_usd,
    tag_key_of,
    usage_report,
)
from gateway.services import Services


def parse_when(text: str, tz: ZoneInfo, param: str, now: datetime | None = None) -> datetime:
    """A date (local midnight in ``tz``), an ISO date-time (naive means ``tz``), or a day
    said in words: ``today``, ``yesterday``, ``month`` (its first day), ``7d`` (days ago)."""
    relative = _relative_day(text.strip().lower(), (now or datetime.now(tz)).astimezone(tz))
    if relative is not None:
        return datetime.combine(relative, dtime(), tz)
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), dtime(), tz)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            f"'{param}' must be a date (YYYY-MM-DD), an ISO 8601 date-time, today, yesterday, "
            "month or a number of days ago (7d).",
            param=param,
            code="invalid_value",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _relative_day(text: str, now: datetime) -> date | None:
    today = now.date()
    if text == "today":
        return today
    if text == "yesterday":
        return today - timedelta(days=1)
    if text == "month":
        return today.replace(day=1)
    if text.endswith("d") and text[:-1].isdigit():
        return today - timedelta(days=int(text[:-1]))
    return None


def parse_group_by(text: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """Group keys; ``tag:<key>`` groups by one tag's value (calls without it: ``(none)``)."""
    if not text:
        return default
    keys = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in keys if k not in GROUP_KEYS and not k.startswith(TAG_PREFIX)]
    if unknown:
        choices = ", ".join((*GROUP_KEYS, "tag:<key>"))
        raise BadRequest(
            f"Unknown group_by key {unknown[0]!r}; use any of {choices}.",
            param="group_by",
            code="invalid_value",
        )
    tags = {k for k in keys if k.startswith(TAG_PREFIX)}
    try:
        for k in tags:
            tag_key_of(k)
        if len(tags) > 1:
            raise ValueError("Usage groups by one tag key at a time.")
    except ValueError as exc:
        raise BadRequest(str(exc), param="group_by", code="invalid_value") from None
    return keys


_QUERY = ("from", "to", "group_by", "model", "service", "forecast")
_FROM = QueryParameter(
    name="from",
    description="Start (inclusive): YYYY-MM-DD, ISO 8601 (naive is accounting time), today, "
    "yesterday, month (its first day) or 7d (days ago)",
)
_TO = QueryParameter(description="End (exclusive), in the same forms as `from`")
_GROUP_BY = QueryParameter(
    description=f"Comma-separated keys among {', '.join(GROUP_KEYS)}, and one tag:<key> "
    "(a cost-attribution tag's value; calls without it are grouped as (none))"
)
_MODEL = QueryParameter(description="Only this requested model")
_SERVICE = QueryParameter(
    description="Only this service inside the tenant (a listed one, or other for the rest)"
)
_FORMAT = QueryParameter(name="format", description="json (default) or csv")
_FORECAST = QueryParameter(
    description="Add the live spend forecasts (JSON only): projected end of day and month, "
    "when each budget runs out at the expected rate, the last hour's anomaly score; for "
    "the tenant's total, its services and its tags"
)


# total=False rather than NotRequired: with postponed annotations, Python 3.11's
# TypedDict cannot see NotRequired, and the schema would call these keys required.
class _GroupKeys(TypedDict, total=False):
    day: str  # YYYY-MM-DD in the accounting time zone
    month: str  # YYYY-MM
    tenant: str
    subject: str  # the calling service (the token's sub)
    route: str
    model: str  # the requested model
    endpoint: str
    service: str  # the service inside the tenant (group_by=service); absent: none configured
    tag: str  # the value of the tag grouped by (group_by=tag:<key>); "(none)" without it


class UsageGroup(_GroupKeys):
    """One group of the report; the keys not grouped by are absent."""

    requests: int  # client requests
    attempts: int  # upstream attempts (retries and escalations included)
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    audio_input_tokens: int
    cached_audio_input_tokens: int
    audio_output_tokens: int
    image_input_tokens: int
    estimated_requests: int
    unpriced_requests: int
    cost_usd: str  # decimal USD, 6 places, exact


class Budget(TypedDict):
    window: str
    model: str | None  # a model's budget; None: the tenant's total, a service's or a tag's
    scope: ScopeKind  # tenant, model, service or tag
    name: str | None  # the model, service or "key=value" tag
    limit_usd: str
    spent_usd: str
    reserved_usd: str
    remaining_usd: str
    resets_at: str


class _Forecasts(TypedDict, total=False):
    forecast: list[ForecastJSON]  # with forecast=true (as of the last refresh, every minute)


class TenantUsage(_Forecasts):
    object: Literal["gateway.usage"]
    tenant: str
    budgets: list[Budget]
    data: list[UsageGroup]


class AdminUsage(_Forecasts):
    object: Literal["gateway.usage"]
    data: list[UsageGroup]


async def _forecasts(
    services: Services, tenant: str | None, service: str | None
) -> list[ForecastJSON]:
    live = services.forecasts
    if live.as_of is None:  # none yet (refreshes disabled, or the first one still running)
        await live.refresh()
    tz = ZoneInfo(services.config.accounting.timezone)
    return [forecast_json(f, tz) for f in select(live.latest(), tenant=tenant, service=service)]


def row_json(row: UsageRow) -> UsageGroup:
    out: dict[str, Any] = {
        k: getattr(row, k) for k in ROW_KEYS if getattr(row, k) is not None
    }  # fmt: skip
    for field in ("requests", "attempts", *TOKEN_FIELDS, "estimated_requests", "unpriced_requests"):
        out[field] = getattr(row, field)
    out["cost_usd"] = str(row.cost_usd)
    return cast(UsageGroup, out)


@dataclass(frozen=True, slots=True)
class _Filters:
    start: str | None
    end: str | None
    group_by: str | None
    model: str | None
    tenant: str | None = None
    service: str | None = None


async def _report(
    services: Services,
    request: Request[Any, Any, Any],
    filters: _Filters,
    *,
    default_group: tuple[str, ...],
    known: tuple[str, ...] = _QUERY,
) -> list[UsageRow]:
    unknown = sorted(set(request.query_params) - set(known))
    if unknown:  # a misspelt filter must not silently widen the report
        raise BadRequest(
            f"Unknown query parameter {unknown[0]!r}; known: {', '.join(known)}.",
            param=unknown[0],
            code="unknown_parameter",
        )
    tz = ZoneInfo(services.config.accounting.timezone)
    start = parse_when(filters.start, tz, "from") if filters.start else None
    end = parse_when(filters.end, tz, "to") if filters.end else None
    group_by = parse_group_by(filters.group_by, default_group)
    await services.ledger.flush()  # a caller sees its own calls that just finished
    rows = await asyncio.to_thread(
        usage_report,
        services.engine,
        tenant=filters.tenant,
        model=filters.model,
        service=filters.service,
        start=start,
        end=end,
        group_by=group_by,
        tz=services.config.accounting.timezone,
    )
    return rows


@get("/v1/gateway/usage", summary="The tenant's usage and budgets")
async def tenant_usage(
    request: Request[Any, Any, Any],
    services: NamedDependency[Services],
    caller: NamedDependency[Caller],
    from_: Annotated[str | None, _FROM] = None,
    to: Annotated[str | None, _TO] = None,
    group_by: Annotated[str | None, _GROUP_BY] = None,
    model: Annotated[str | None, _MODEL] = None,
    service: Annotated[str | None, _SERVICE] = None,
    forecast: Annotated[bool, _FORECAST] = False,
) -> TenantUsage:
    """The caller's tenant: spend and tokens by day and model, and what each budget has left."""
    tenant = caller.principal.tenant
    budgets: list[Budget] = [
        {
            "window": s.window,
            "model": s.model,
            "scope": describe_scope(s.scope)[0],
            "name": describe_scope(s.scope)[1],
            "limit_usd": str(nanos_to_usd(s.limit_nanos)),
            "spent_usd": str(nanos_to_usd(s.spent_nanos)),
            "reserved_usd": str(nanos_to_usd(s.reserved_nanos)),
            "remaining_usd": str(nanos_to_usd(s.remaining_nanos)),
            "resets_at": s.resets_at.isoformat(),
        }
        for s in await services.quota.budget_status(tenant, caller.policy, time.time())
    ]
    filters = _Filters(from_, to, group_by, model, tenant=tenant, service=service)
    rows = await _report(services, request, filters, default_group=("day", "model"))
    data = [row_json(r) for r in rows]
    out: TenantUsage = {
        "object": "gateway.usage",
        "tenant": tenant,
        "budgets": budgets,
        "data": data,
    }
    if forecast:
        out["forecast"] = await _forecasts(services, tenant, service)
    return out


@get("/admin/usage", summary="Every tenant's usage (admins)")
async def admin_usage(
    request: Request[Any, Any, Any],
    services: NamedDependency[Services],
    admin: NamedDependency[Caller],
    from_: Annotated[str | None, _FROM] = None,
    to: Annotated[str | None, _TO] = None,
    group_by: Annotated[str | None, _GROUP_BY] = None,
    model: Annotated[str | None, _MODEL] = None,
    tenant: Annotated[str | None, QueryParameter(description="Only this tenant")] = None,
    service: Annotated[str | None, _SERVICE] = None,
    format_: Annotated[Literal["json", "csv"], _FORMAT] = "json",
    forecast: Annotated[bool, _FORECAST] = False,
) -> Response[AdminUsage | str]:
    """Every tenant (admins only), filterable by tenant, model and time, grouped at will;
    as JSON, or as CSV with every group key and number (the columns of `gateway usage`)."""
    rows = await _report(
        services,
        request,
        _Filters(from_, to, group_by, model, tenant=tenant, service=service),
        default_group=("day", "tenant", "model"),
        known=(*_QUERY, "tenant", "format"),
    )
    if forecast and format_ == "csv":
        raise BadRequest(
            "Forecasts come as JSON only; leave out format=csv.",
            param="forecast",
            code="invalid_value",
        )
    if format_ == "csv":
        keys = parse_group_by(group_by, ())
        return Response(
            format_usage(rows, "csv", group_by=keys), media_type="text/csv; charset=utf-8"
        )
    out: AdminUsage = {"object": "gateway.usage", "data": [row_json(r) for r in rows]}
    if forecast:
        out["forecast"] = await _forecasts(services, tenant, service)
    return Response(out)
