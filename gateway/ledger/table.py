"""The metering ledger: one row per upstream attempt (invariant 2: metered exactly once).

`LedgerEntry` is the one description of a ledger row: its columns, types,
limits and defaults. The hot path builds rows with `gateway.ledger.record`'s
`LedgerRecord`, a plain dataclass generated from this class, and the writer
derives its INSERT and parameter tuples from this table's columns.

Idempotency lives in the schema: (request_id, attempt) is unique and every
insert ignores a duplicate, so recording an attempt twice (a retried batch,
a replica replaying) keeps one row.

Money is integer nano-USD (1e-9 USD) in a BIGINT: sums are exact, and 2**63
nanos is about 9.2 billion USD. Timestamps are UTC; PostgreSQL stores them as
``timestamptz``, SQLite as naive UTC text (the reader treats naive as UTC).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Index, Integer, UniqueConstraint
from sqlalchemy.types import String, TypeDecorator
from sqlmodel import Field, SQLModel

from gateway.config.tenant import TAGS_TEXT_MAX

SERVICE_NAME_MAX = 64  # service names are [A-Za-z0-9._@:/-]{1,64} (`ServicesPolicy`)

# BIGINT on PostgreSQL (a busy gateway passes 2**31 rows within months); plain
# INTEGER on SQLite, where only "INTEGER PRIMARY KEY" is the autoincrementing rowid.
_ID_TYPE = BigInteger().with_variant(Integer(), "sqlite")


class JSONCounts(TypeDecorator[Mapping[str, int]]):
    """A small ``{name: count}`` map stored as compact JSON text, keys sorted (stable rows)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Mapping[str, int] | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return json.dumps(dict(sorted(value.items())), separators=(",", ":")) if value else "{}"

    def process_result_value(self, value: Any, dialect: Dialect) -> Mapping[str, int] | None:
        return None if value is None else dict(json.loads(value))


class LedgerEntry(SQLModel, table=True):
    __tablename__ = "ledger"
    # The (tenant, ts) index also serves lookups by tenant alone (leftmost
    # prefix), so tenant has no index of its own: one index less per insert.
    __table_args__ = (
        UniqueConstraint("request_id", "attempt", name="uq_ledger_request_attempt"),
        Index("ix_ledger_tenant_ts", "tenant", "ts"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=_ID_TYPE)
    # Strings with a max_length are cut to it on write: a longer value would make
    # PostgreSQL reject the whole batch, over and over.
    request_id: str = Field(max_length=64)
    attempt: int
    ts: datetime = Field(sa_type=DateTime(timezone=True), index=True)  # attempt start; naive = UTC
    tenant: str = Field(max_length=128)
    subject: str | None = None
    endpoint: str  # "responses", "chat.completions", "realtime", ...
    route: str | None = None
    requested_model: str
    served_model: str | None = None
    status: int  # HTTP status of the upstream attempt; 0 when there was no HTTP answer
    # "completed", "incomplete", "failed", "error", "client_gone", "upstream_error", "cache_hit"
    outcome: str
    input_tokens: int = 0  # uncached text input
    cached_input_tokens: int = 0
    output_tokens: int = 0  # reasoning included
    reasoning_tokens: int = 0
    audio_input_tokens: int = 0
    cached_audio_input_tokens: int = 0
    audio_output_tokens: int = 0
    image_input_tokens: int = 0
    # Hosted tool type -> calls, e.g. {"web_search": 2}.
    tool_calls: Mapping[str, int] = Field(default_factory=dict, sa_type=JSONCounts)
    cost_nanos: int = Field(default=0, sa_type=BigInteger)
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    response_id: str | None = None
    estimated: bool = False
    unpriced: bool = False
    stream: bool = False
    background: bool = False  # ran on upstream after its answer (billed when it ended)
    session_id: str | None = None
    # Cost-attribution tags, "env=prod,feature=search": sorted, canonical (gateway.policy.tags).
    tags: str | None = Field(default=None, max_length=TAGS_TEXT_MAX)
    # The service inside the tenant (`services:`): a listed name, or "other" for the rest;
    # None when the tenant has no services configured (or for an orphan's estimated row).
    service: str | None = Field(default=None, max_length=SERVICE_NAME_MAX)
    # A shadow call (`gateway.shadow`): the tenant whose call it copied. The row's own
    # tenant is the one charged (`shadow.charge_to`); None for every client call.
    shadow_of: str | None = Field(default=None, max_length=128)
