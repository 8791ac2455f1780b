"""``GET /admin/shadow``: `gateway shadow report` over HTTP, for admins without database access."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from gateway.api.usage import parse_when
from gateway.auth.callers import Caller
from gateway.services import Services
from gateway.shadow.report import as_json, summarize
from gateway.shadow.store import pairs


@get("/admin/shadow", summary="How a route's shadow compares, per model pair (admins)")
async def shadow_report(
    services: NamedDependency[Services],
    admin: NamedDependency[Caller],
    route: Annotated[str, QueryParameter(description="The shadowed route")],
    since: Annotated[
        str, QueryParameter(description="Start: YYYY-MM-DD, ISO 8601, today, 7d ...")
    ] = "7d",
) -> dict[str, Any]:
    """The compared pairs of ``route`` since ``since``, summed per (primary, shadow) model
    pair: success, JSON validity and refusal rates, cost, latency and output ratios, and the
    similarity distribution (what `gateway shadow report --format json` prints)."""
    zone = ZoneInfo(services.config.accounting.timezone)
    start = parse_when(since, zone, "since")
    found = await asyncio.to_thread(pairs, services.engine, route, start)
    return {"object": "gateway.shadow_report", **as_json(route, summarize(found))}
