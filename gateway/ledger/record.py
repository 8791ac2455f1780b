"""What the request path hands the ledger: one immutable record per upstream attempt."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.db import db_timestamp

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


# The order `record_values` returns; the writer's INSERT names the columns in it.
COLUMNS = (
    "request_id", "attempt", "ts", "tenant", "subject", "endpoint", "route",
    "requested_model", "served_model", "status", "outcome", "input_tokens",
    "cached_input_tokens", "output_tokens", "reasoning_tokens", "audio_input_tokens",
    "cached_audio_input_tokens", "audio_output_tokens", "image_input_tokens", "tool_calls",
    "cost_nanos", "latency_ms", "ttft_ms", "response_id", "estimated", "unpriced", "stream",
    "session_id",
)  # fmt: skip


def record_values(rec: LedgerRecord, *, sqlite: bool) -> tuple[Any, ...]:
    """The `ledger` row of a record as DBAPI parameters, in `COLUMNS` order.

    A tuple built directly: this runs once per metered call, and a dict per row
    cost a measurable share of the ledger's per-call CPU.
    """
    return (
        rec.request_id[:_REQUEST_ID_MAX],
        rec.attempt,
        db_timestamp(as_utc(rec.ts), sqlite),
        rec.tenant[:_TENANT_MAX],
        rec.subject,
        rec.endpoint,
        rec.route,
        rec.requested_model,
        rec.served_model,
        rec.status,
        rec.outcome,
        rec.input_tokens,
        rec.cached_input_tokens,
        rec.output_tokens,
        rec.reasoning_tokens,
        rec.audio_input_tokens,
        rec.cached_audio_input_tokens,
        rec.audio_output_tokens,
        rec.image_input_tokens,
        (
            json.dumps(dict(sorted(rec.tool_calls.items())), separators=(",", ":"))
            if rec.tool_calls
            else "{}"
        ),
        rec.cost_nanos,
        rec.latency_ms,
        rec.ttft_ms,
        rec.response_id,
        rec.estimated,
        rec.unpriced,
        rec.stream,
        rec.session_id,
    )
