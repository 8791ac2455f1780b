"""Containers (``POST /v1/containers``): code-interpreter sessions, charged a fee each.

A container has no model: creating one is charged the session fee of its
memory size, a ``container_<size>`` entry of ``tools:`` in the price table
(one session; a container kept active past a session is billed again
upstream and is not seen here). The rest of the containers API — its files,
list, retrieve, delete — are object operations (`gateway.shapes.objects`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.config.runtime import Model, Policy
from gateway.errors import BadRequest
from gateway.metering.usage import Usage
from gateway.policy.request import Applied
from gateway.pricing import ModelPrice
from gateway.quota.bound import Sizing
from gateway.shapes.endpoint import CreateRequest, Endpoint, untouched
from gateway.shapes.refs import CONTAINER, FILE, field_refs

MEMORY_LIMITS = ("1g", "4g", "16g", "64g")


def _fee(body: dict[str, Any]) -> str:
    size = body.get("memory_limit") or "1g"
    if size not in MEMORY_LIMITS:
        raise BadRequest(
            f"'memory_limit' must be one of {', '.join(MEMORY_LIMITS)}.", param="memory_limit"
        )
    return f"container_{size}"


def _parse(body: dict[str, Any]) -> CreateRequest:
    if not isinstance(body.get("name"), str):
        raise BadRequest("You must provide a name parameter.", param="name")
    return CreateRequest(_fee(body), False, tuple(field_refs(FILE, "file_ids")(body)), CONTAINER)


def _policy(body: dict[str, Any], policy: Policy, model: Model, tenant: str, _: bool) -> Applied:
    return untouched()


def _bound(s: Sizing) -> int:
    return s.pricing.tools.get(s.model.name, 0)


def _units(body: dict[str, Any], model: Model, price: ModelPrice) -> Mapping[str, int]:
    return {model.name: 1}


def _no_usage(usage: Mapping[str, Any], _: Mapping[str, Any] | None) -> Usage:
    return Usage()


CONTAINERS = Endpoint(
    name="containers.create",
    family="containers",
    upstream_path="/containers",
    parse=_parse,
    apply_policy=_policy,
    usage=_no_usage,
    bound=_bound,
    units=_units,
    fee=_fee,
)
