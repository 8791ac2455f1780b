"""Live forecasts for people and scripts: JSON (the usage API, ``--format json``) and a table.

Money is decimal USD text with 6 places, like the usage report's ``cost_usd``; times
are ISO 8601 in the accounting time zone, so "runs out at 16:40" reads as the
budget's own day.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import Literal, TypedDict

from gateway.config.scopes import describe_scope
from gateway.forecast.live import ScopeForecast
from gateway.ledger.queries import nanos_to_usd


class BudgetForecastJSON(TypedDict):
    window: Literal["day", "month"]
    limit_usd: str
    exhausts_at: str | None  # None: the budget lasts its window at the expected rate


class ForecastJSON(TypedDict):
    tenant: str
    scope: str  # tenant (its total), service:<name> or tag:<key>=<value>
    as_of: str
    spent_today_usd: str
    spent_month_usd: str
    projected_day_usd: str  # at the end of the local day
    projected_month_usd: str  # at the end of the local month
    budgets: list[BudgetForecastJSON]
    anomaly_hour: str  # the last complete hour
    anomaly_score: float | None  # its spend / its usual level; None: under a week of history
    history_hours: int


def scope_label(scope: str | None) -> str:
    return "tenant" if scope is None else scope


def _at(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).isoformat(timespec="seconds")


def forecast_json(f: ScopeForecast, tz: tzinfo) -> ForecastJSON:
    return {
        "tenant": f.tenant,
        "scope": scope_label(f.scope),
        "as_of": _at(f.as_of, tz),
        "spent_today_usd": str(nanos_to_usd(f.spent_today)),
        "spent_month_usd": str(nanos_to_usd(f.spent_month)),
        "projected_day_usd": str(nanos_to_usd(f.day_end)),
        "projected_month_usd": str(nanos_to_usd(f.month_end)),
        "budgets": [
            {
                "window": b.window,
                "limit_usd": str(nanos_to_usd(b.limit_nanos)),
                "exhausts_at": _at(b.exhausts_at, tz) if b.exhausts_at is not None else None,
            }
            for b in f.budgets
        ],
        "anomaly_hour": _at(f.anomaly_hour, tz),
        "anomaly_score": None if f.anomaly is None else round(f.anomaly, 3),
        "history_hours": f.history_hours,
    }


def select(
    forecasts: Iterable[ScopeForecast], *, tenant: str | None = None, service: str | None = None
) -> list[ScopeForecast]:
    """Those of `tenant`, and with `service` only that service's scope."""
    out = [f for f in forecasts if tenant is None or f.tenant == tenant]
    if service is not None:
        out = [f for f in out if describe_scope(f.scope) == ("service", service)]
    return out


def format_forecasts(forecasts: Iterable[ScopeForecast], fmt: str, tz: tzinfo) -> str:
    """``json``: the API's objects; ``table``: one line per scope, budgets that run out."""
    rows = [forecast_json(f, tz) for f in forecasts]
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    header = ["tenant", "scope", "today", "day_end", "month", "month_end", "anomaly", "runs_out"]
    body = [
        [
            r["tenant"],
            r["scope"],
            r["spent_today_usd"],
            r["projected_day_usd"],
            r["spent_month_usd"],
            r["projected_month_usd"],
            "-" if r["anomaly_score"] is None else f"{r['anomaly_score']:.2f}x",
            _runs_out(r["budgets"]),
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    numeric = range(2, 7)
    lines = [
        "  ".join(
            v.rjust(w) if i in numeric else v.ljust(w)
            for i, (v, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def _runs_out(budgets: list[BudgetForecastJSON]) -> str:
    """``day $5 at 2026-12-05T16:40`` for each budget at risk; ``-`` when none is."""
    parts = [
        f"{b['window']} ${b['limit_usd'].rstrip('0').rstrip('.')} at {b['exhausts_at'][:16]}"
        for b in budgets
        if b["exhausts_at"] is not None
    ]
    return "; ".join(parts) or "-"
