"""One row per compared pair: the client's answer and its shadow's, side by side.

What ``gateway shadow report`` reads. The answers themselves are not kept
(they may hold anything the client sent), only what was measured of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, DateTime
from sqlmodel import Field, SQLModel

from gateway.records import record_class


class ShadowPair(SQLModel, table=True):
    __tablename__ = "shadow_pair"

    id: int | None = Field(default=None, primary_key=True)
    ts: datetime = Field(sa_type=DateTime(timezone=True), index=True)  # the client's call start
    request_id: str = Field(max_length=64)  # the client's; the shadow's ledger row adds .shadow
    route: str = Field(max_length=128, index=True)
    tenant: str = Field(max_length=128)  # whose call was copied
    endpoint: str = Field(max_length=64)
    primary_model: str = Field(max_length=128)  # the configured model that answered the client
    shadow_model: str = Field(max_length=128)
    primary_status: int
    shadow_status: int  # 0: no HTTP answer
    primary_ok: bool  # a complete 2xx answer
    shadow_ok: bool
    primary_json_valid: bool | None = None  # None: no structured output or tool call to check
    shadow_json_valid: bool | None = None
    primary_refusal: bool = False
    shadow_refusal: bool = False
    primary_output_tokens: int | None = None
    shadow_output_tokens: int | None = None
    primary_chars: int = 0  # the answer's text (and tool calls), in characters
    shadow_chars: int = 0
    primary_latency_ms: float
    shadow_latency_ms: float
    primary_cost_nanos: int = Field(default=0, sa_type=BigInteger)
    shadow_cost_nanos: int = Field(default=0, sa_type=BigInteger)
    similarity: float | None = None  # 0..1 over the words of both texts; None if either failed


if TYPE_CHECKING:
    PairRecord = ShadowPair
else:
    PairRecord = record_class(
        ShadowPair, "PairRecord", __name__, "One compared pair: a `ShadowPair` row, cheap to build."
    )
