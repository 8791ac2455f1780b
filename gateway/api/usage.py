"""Usage endpoints: a tenant's own spend and budgets, and the admins' view across tenants."""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, get
from litestar.di import NamedDependency

from gateway.errors import BadRequest
from gateway.ledger import GROUP_KEYS, TOKEN_FIELDS, UsageRow, nanos_to_usd, usage_report
from gateway.services import Services


def parse_when(text: str, tz: ZoneInfo, param: str) -> datetime:
    """A date (local midnight in ``tz``) or an ISO date-time (naive means ``tz``)."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), dtime(), tz)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            f"'{param}' must be a date (YYYY-MM-DD) or an ISO 8601 date-time.",
            param=param,
            code="invalid_value",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def parse_group_by(text: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    if not text:
        return default
    keys = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in keys if k not in GROUP_KEYS]
    if unknown:
        raise BadRequest(
            f"Unknown group_by key {unknown[0]!r}; use any of {', '.join(GROUP_KEYS)}.",
            param="group_by",
            code="invalid_value",
        )
    return keys


_QUERY = ("from", "to", "group_by", "model")


def row_json(row: UsageRow) -> dict[str, Any]:
    out: dict[str, Any] = {
        k: getattr(row, k) for k in ("day", "month", "tenant", "model", "endpoint")
        if getattr(row, k) is not None
    }  # fmt: skip
    for field in ("requests", *TOKEN_FIELDS, "estimated_requests", "unpriced_requests"):
        out[field] = getattr(row, field)
    out["cost_usd"] = str(row.cost_usd)
    return out


async def _report(
    services: Services,
    request: Request[Any, Any, Any],
    *,
    tenant: str | None,
    default_group: tuple[str, ...],
    known: tuple[str, ...] = _QUERY,
) -> list[dict[str, Any]]:
    q = request.query_params
    unknown = sorted(set(q) - set(known))
    if unknown:  # a misspelt filter must not silently widen the report
        raise BadRequest(
            f"Unknown query parameter {unknown[0]!r}; known: {', '.join(known)}.",
            param=unknown[0],
            code="unknown_parameter",
        )
    tz = ZoneInfo(services.config.accounting.timezone)
    start = parse_when(q["from"], tz, "from") if q.get("from") else None
    end = parse_when(q["to"], tz, "to") if q.get("to") else None
    group_by = parse_group_by(q.get("group_by"), default_group)
    await services.ledger.flush()  # a caller sees its own calls that just finished
    rows = await asyncio.to_thread(
        usage_report,
        services.engine,
        tenant=tenant,
        model=q.get("model"),
        start=start,
        end=end,
        group_by=group_by,
        tz=services.config.accounting.timezone,
    )
    return [row_json(r) for r in rows]


@get("/v1/gateway/usage")
async def tenant_usage(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> dict[str, Any]:
    """The caller's tenant: spend and tokens by day and model, and what each budget has left."""
    caller = await services.auth.caller(request.headers.get("authorization"))
    tenant = caller.principal.tenant
    budgets = [
        {
            "window": s.window,
            "model": s.model,
            "limit_usd": str(nanos_to_usd(s.limit_nanos)),
            "spent_usd": str(nanos_to_usd(s.spent_nanos)),
            "reserved_usd": str(nanos_to_usd(s.reserved_nanos)),
            "remaining_usd": str(nanos_to_usd(s.remaining_nanos)),
            "resets_at": s.resets_at.isoformat(),
        }
        for s in await services.quota.budget_status(tenant, caller.policy, time.time())
    ]
    data = await _report(services, request, tenant=tenant, default_group=("day", "model"))
    return {"object": "gateway.usage", "tenant": tenant, "budgets": budgets, "data": data}


@get("/admin/usage")
async def admin_usage(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> dict[str, Any]:
    """Every tenant (admins only), filterable by tenant, model and time, grouped at will."""
    await services.auth.admin(request.headers.get("authorization"))
    data = await _report(
        services,
        request,
        tenant=request.query_params.get("tenant"),
        default_group=("day", "tenant", "model"),
        known=(*_QUERY, "tenant"),
    )
    return {"object": "gateway.usage", "data": data}
