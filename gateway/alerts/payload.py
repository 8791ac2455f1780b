"""What a webhook receives: the bytes of the body and the headers of one attempt.

The body is the same from every replica and on every attempt (a function of the
event only); the timestamp and signature are per attempt. A ``json`` webhook is
signed like this, and its receiver verifies it so::

    signed = f"{X-Gateway-Alert-Timestamp}.".encode() + raw_body
    expected = "v1=" + hmac.new(secret, signed, hashlib.sha256).hexdigest()
    hmac.compare_digest(expected, X-Gateway-Alert-Signature)  # and |now - timestamp| < 300 s

then dedupes on ``X-Gateway-Alert-Id`` (the body's ``id``), which a crash between
sending and recording can repeat.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.alerts.events import AlertEvent
from gateway.config.alerts import Webhook
from gateway.config.scopes import describe_scope
from gateway.pricing import NANOS_PER_USD

ID_HEADER = "X-Gateway-Alert-Id"
TIMESTAMP_HEADER = "X-Gateway-Alert-Timestamp"
SIGNATURE_HEADER = "X-Gateway-Alert-Signature"


def body_of(event: AlertEvent, webhook: Webhook) -> bytes:
    if webhook.format == "slack":
        return orjson.dumps({"text": slack_text(event)})
    return orjson.dumps(event_json(event))


def headers_of(event: AlertEvent, webhook: Webhook, body: bytes, now: float) -> dict[str, str]:
    timestamp = str(int(now))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "ai-gateway-alerts",
        ID_HEADER: event.id,
        TIMESTAMP_HEADER: timestamp,
    }
    if webhook.secret is not None:
        headers[SIGNATURE_HEADER] = signature(webhook.secret, timestamp, body)
    return headers


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def event_json(event: AlertEvent) -> dict[str, Any]:
    kind, name = describe_scope(event.scope)
    return {
        "id": event.id,
        "kind": event.kind,
        "tenant": event.tenant,
        "scope": {"kind": kind, "name": name},
        "window": event.window,
        "window_key": event.window_key,
        "threshold_percent": event.threshold,
        "limit_usd": _usd(event.limit_nanos),
        "spent_usd": _usd(event.spent_nanos),
        "resets_at": _iso(event.ends_at),
        "projected_exhaustion_at": _iso(event.exhausts_at) if event.exhausts_at else None,
        "within_days": event.within_days,
        "anomaly_score": event.score,
    }


def slack_text(event: AlertEvent) -> str:
    kind, name = describe_scope(event.scope)
    who = f"*{event.tenant}*" + (f" {kind} *{name}*" if name is not None else "")
    if event.kind == "threshold":
        limit, spent = _usd(event.limit_nanos) or 0, _usd(event.spent_nanos) or 0
        label = {"day": "daily", "month": "monthly"}.get(event.window, event.window)
        text = (f":warning: {who} has spent ${spent:,.2f} of its ${limit:,.2f} {label} "
                f"budget ({event.threshold}% threshold reached); it resets "
                f"{_human(event.ends_at)}.")  # fmt: skip
    elif event.kind == "forecast_exhaustion":
        when = _human(event.exhausts_at) if event.exhausts_at else "soon"
        text = (f":chart_with_upwards_trend: {who}: at the current rate its {event.window}ly "
                f"budget runs out {when} (within {event.within_days} days), before it resets "
                f"{_human(event.ends_at)}.")  # fmt: skip
    else:
        text = (f":rotating_light: {who}: spend in the hour {event.window_key}:00 UTC is far "
                f"above its usual level (score {event.score or 0:.1f}).")  # fmt: skip
    return f"{text} (alert {event.id[:12]})"


def _usd(nanos: int | None) -> float | None:
    return None if nanos is None else round(nanos / NANOS_PER_USD, 9)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _human(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
