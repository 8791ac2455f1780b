"""What one notification is about, and the id that makes it the same on every replica."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

AlertKind = Literal["threshold", "forecast_exhaustion", "anomaly"]
ALERT_KINDS: tuple[AlertKind, ...] = ("threshold", "forecast_exhaustion", "anomaly")

# An event not delivered by the end of its window is still sent this long after it;
# then it is dropped (its window's news is stale).
LATE_GRACE = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One crossing in one window. Its identity: kind, tenant, scope, window, threshold and
    lead stage (not the levels)."""

    kind: AlertKind
    tenant: str
    scope: str | None  # `gateway.config.scopes`: None is the tenant's total
    window: str  # day, month, or hour (anomalies)
    window_key: str  # 2026-12-05, 2026-12, 2026-12-05T14
    ends_at: datetime  # aware: the window's reset (an anomaly's: the end of its hour)
    threshold: int | None = None  # percent (threshold events)
    limit_nanos: int | None = None
    spent_nanos: int | None = None
    exhausts_at: datetime | None = None  # forecast events
    score: float | None = None  # anomaly events
    within_days: int | None = None  # forecast events: the lead stage (`crossings.LEAD_DAYS`)

    @property
    def id(self) -> str:
        """Stable across replicas and restarts: a receiver dedupes on it."""
        parts = (self.kind, self.tenant, self.scope or "", self.window, self.window_key,
                 str(self.threshold or ""), str(self.within_days or ""))  # fmt: skip
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]

    @property
    def expires_at(self) -> datetime:
        """Past this, an undelivered event is dropped."""
        return self.ends_at + LATE_GRACE
