"""The fake's own record of what it served: one entry per call it would bill, as OpenAI would.

Tests compare the gateway's ledger with this record call for call. An entry is written
when the fake produces the usage it bills: a JSON answer, a stream whose usage-bearing
event was sent, a background response when it completes (a background response
cancelled while queued bills nothing). A stream the client left before its usage arrived
is recorded too, ``delivered`` false, with the usage it had planned (so is an answer a fault
cut): what it really used is unknowable to the client, so a test can tell those calls apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from fake_openai.wire import JsonObject

BillKind = Literal["responses", "chat"]


@dataclass(frozen=True)
class Billed:
    """One call the fake served, with the usage it would bill."""

    kind: BillKind
    response_id: str
    model: str
    service_tier: str | None
    input_tokens: int
    """All input tokens, cached ones included (as the usage object counts them)."""
    cached_tokens: int
    output_tokens: int
    """Reasoning tokens included."""
    delivered: bool = True
    """False when the usage never reached the client: a stream left (or cut by a fault) before
    its usage-bearing event, a JSON answer a fault cut. Its usage is then the plan."""
    background: bool = False


def billed_response(obj: JsonObject, *, delivered: bool = True) -> Billed:
    """The entry for a finished Responses object (HTTP, background or socket)."""
    usage = obj.get("usage") or {}
    return Billed(
        kind="responses",
        response_id=str(obj["id"]),
        model=str(obj["model"]),
        service_tier=_str(obj.get("service_tier")),
        input_tokens=int(usage.get("input_tokens", 0)),
        cached_tokens=_detail(usage, "input_tokens_details", "cached_tokens"),
        output_tokens=int(usage.get("output_tokens", 0)),
        delivered=delivered,
        background=bool(obj.get("background")),
    )


def billed_chat(completion: JsonObject, *, delivered: bool = True) -> Billed:
    """The entry for a Chat completion (its JSON answer, or the plan its stream follows)."""
    usage = completion.get("usage") or {}
    return Billed(
        kind="chat",
        response_id=str(completion["id"]),
        model=str(completion["model"]),
        service_tier=_str(completion.get("service_tier")),
        input_tokens=int(usage.get("prompt_tokens", 0)),
        cached_tokens=_detail(usage, "prompt_tokens_details", "cached_tokens"),
        output_tokens=int(usage.get("completion_tokens", 0)),
        delivered=delivered,
    )


def on_stream_end(record: list[Billed], entry: Billed, usage_event: int) -> Callable[[int], None]:
    """What a stream calls with how many events it wrote: ``entry`` is recorded, delivered
    once the event at index ``usage_event`` (the one carrying usage) was written. A
    background stream runs on upstream whatever its client does, so it is always billed."""

    def record_it(sent: int) -> None:
        record.append(replace(entry, delivered=entry.background or sent > usage_event))

    return record_it


def _detail(usage: JsonObject, details: str, name: str) -> int:
    inner = usage.get(details)
    return int(inner.get(name, 0)) if isinstance(inner, dict) else 0


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
