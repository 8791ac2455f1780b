"""Spend forecasts: a seasonal hourly rate, projections, budget exhaustion and anomalies.

Pure functions over hourly spend: a mapping of aware hour-start datetimes (local
hours of the accounting time zone) to nanos. Pass the last four to eight weeks,
not just the current month: the profiles need whole weeks, and the month
boundary matters only for what counts as spent. The ledger query, the API and
the alerts wire them in elsewhere; `docs/forecast-backtest.md` shows how well
the method does on a synthetic month.
"""

from gateway.forecast.model import DEFAULT_PARAMS, Params, SeasonalRate, fit
from gateway.forecast.project import (
    DEFAULT_ANOMALY,
    AnomalyParams,
    Projection,
    Window,
    anomaly_score,
    budget_exhaustion,
    exhaustion,
    expected_between,
    project,
)

__all__ = [
    "DEFAULT_ANOMALY",
    "DEFAULT_PARAMS",
    "AnomalyParams",
    "Params",
    "Projection",
    "SeasonalRate",
    "Window",
    "anomaly_score",
    "budget_exhaustion",
    "exhaustion",
    "expected_between",
    "fit",
    "project",
]
