"""Which models serve a request, in which order: a pure function of config and request.

A client names a route (an alias such as ``default``) or a concrete model.
A route picks its ladder by the first matching rule (tenant, hint header,
input size, tools, structured output, reasoning effort), else by its weighted
split (canaries, deterministic per split key), else its own ladder. A
concrete model is a ladder of one — unless a route lists it in ``also_for``,
in which case that route's ladder from that model upwards applies.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from gateway.config.model import RuleMatch
from gateway.config.runtime import Model, Route, RuntimeConfig, Shadow


@dataclass(frozen=True, slots=True)
class Features:
    """What rules can match on, read once from the request."""

    tenant: str
    input_bytes: int
    tools: bool
    structured_output: bool
    reasoning_effort: str | None
    hint: str | None


def features_of(tenant: str, body: dict[str, Any], raw: bytes, hint: str | None) -> Features:
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    response_format = body.get("response_format")
    structured = any(
        isinstance(f, dict) and f.get("type") in ("json_schema", "json_object")
        for f in (fmt, response_format)
    )
    reasoning = body.get("reasoning")
    effort = (
        reasoning.get("effort") if isinstance(reasoning, dict) else body.get("reasoning_effort")
    )
    return Features(
        tenant=tenant,
        input_bytes=len(raw),
        tools=bool(body.get("tools")),
        structured_output=structured,
        reasoning_effort=effort if isinstance(effort, str) else None,
        hint=hint,
    )


NO_FEATURES = Features("", 0, False, False, None, None)  # a concrete model needs none


@dataclass(frozen=True, slots=True)
class Plan:
    route: str | None
    ladder: tuple[Model, ...]
    escalate_on: frozenset[str]
    buffer_streams: bool
    retry_after_max_s: float
    why: str
    on_invalid_json: frozenset[str] = frozenset({"escalate"})  # `repair`, `escalate`, both
    chat_via_responses: bool = False  # Chat served through the Responses API (`gateway.bridge`)
    shadow: Shadow | None = None  # the route's candidate, tried on a sample after the answer


def plan(config: RuntimeConfig, requested: str, features: Features, split_key: str) -> Plan:
    route = config.routes.get(requested)
    if route is None:
        model = config.models[requested]
        via = config.routes_for_models.get(requested)
        direct = f"model {requested} named directly"
        if via is None or model not in via.ladder:
            return Plan(None, (model,), frozenset(), False, 0.0, direct)
        ladder = via.ladder[via.ladder.index(model) :]
        return _from(via, ladder, f"{direct}; escalates on route {via.name}")
    for i, rule in enumerate(route.rules):
        if _matches(rule.match, features):
            return _from(route, rule.ladder, f"route {route.name}, rule {i} matched")
    if route.split:
        point = split_point(split_key)
        arm = next(a for a in route.split if point < a.upto)
        return _from(route, arm.ladder, f"route {route.name}, split arm {arm.name} ({point}/100)")
    return _from(route, route.ladder, f"route {route.name}")


def _from(route: Route, ladder: tuple[Model, ...], why: str) -> Plan:
    return Plan(
        route.name,
        ladder,
        route.escalate_on,
        route.buffer_streams,
        route.retry_after_max_s,
        why,
        route.on_invalid_json,
        route.chat_via_responses,
        route.shadow,
    )


def split_point(key: str) -> int:
    """0–99, stable for a key across processes and restarts."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest()) % 100


def _matches(m: RuleMatch, f: Features) -> bool:
    return (
        (m.tenants is None or f.tenant in m.tenants)
        and (m.hint is None or m.hint == f.hint)
        and (m.min_input_bytes is None or f.input_bytes >= m.min_input_bytes)
        and (m.max_input_bytes is None or f.input_bytes <= m.max_input_bytes)
        and (m.tools is None or m.tools == f.tools)
        and (m.structured_output is None or m.structured_output == f.structured_output)
        and (m.reasoning_effort is None or f.reasoning_effort in m.reasoning_effort)
    )
