"""What the request path hands the ledger: one immutable record per upstream attempt."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Column limits in gateway.ledger.table. A longer value would make PostgreSQL
# reject the whole batch, over and over; a truncated tenant is still a metered call.
_REQUEST_ID_MAX = 64
_TENANT_MAX = 128


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerRecord:
    """One upstream attempt, metered. Field meanings: see `gateway.ledger.table.LedgerEntry`.

    Keyword-only: thirty fields are too many to pass by position safely.
    """

    request_id: str
    attempt: int
    ts: datetime  # when the attempt started; naive means UTC
    tenant: str
    subject: str | None = None
    endpoint: str
    route: str | None = None
    requested_model: str
    served_model: str | None = None
    status: int
    outcome: str
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    audio_input_tokens: int = 0
    cached_audio_input_tokens: int = 0
    audio_output_tokens: int = 0
    image_input_tokens: int = 0
    tool_calls: Mapping[str, int] = field(default_factory=dict)
    cost_nanos: int = 0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    response_id: str | None = None
    estimated: bool = False
    unpriced: bool = False
    stream: bool = False
    session_id: str | None = None


def as_utc(ts: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def record_to_row(rec: LedgerRecord) -> dict[str, Any]:
    """The `ledger` table's column values for a record (no ``id``: the database assigns it)."""
    return {
        "request_id": rec.request_id[:_REQUEST_ID_MAX],
        "attempt": rec.attempt,
        "ts": as_utc(rec.ts),
        "tenant": rec.tenant[:_TENANT_MAX],
        "subject": rec.subject,
        "endpoint": rec.endpoint,
        "route": rec.route,
        "requested_model": rec.requested_model,
        "served_model": rec.served_model,
        "status": rec.status,
        "outcome": rec.outcome,
        "input_tokens": rec.input_tokens,
        "cached_input_tokens": rec.cached_input_tokens,
        "output_tokens": rec.output_tokens,
        "reasoning_tokens": rec.reasoning_tokens,
        "audio_input_tokens": rec.audio_input_tokens,
        "cached_audio_input_tokens": rec.cached_audio_input_tokens,
        "audio_output_tokens": rec.audio_output_tokens,
        "image_input_tokens": rec.image_input_tokens,
        "tool_calls": (
            json.dumps(dict(sorted(rec.tool_calls.items())), separators=(",", ":"))
            if rec.tool_calls
            else "{}"
        ),
        "cost_nanos": rec.cost_nanos,
        "latency_ms": rec.latency_ms,
        "ttft_ms": rec.ttft_ms,
        "response_id": rec.response_id,
        "estimated": rec.estimated,
        "unpriced": rec.unpriced,
        "stream": rec.stream,
        "session_id": rec.session_id,
    }
