"""Spend forecasts: a seasonal hourly rate, projections, budget exhaustion and anomalies.

Pure functions over hourly spend (nanos per local hour in the accounting time
zone); the ledger query, the API and the alerts wire them in elsewhere.
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
