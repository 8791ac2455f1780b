"""Prepare a call: from the caller, the endpoint and the request, everything decided before money.

Two steps, both plain functions of data (the one I/O is the ownership lookup
of ids the request names):

- :func:`prepare` — once per request: read its cost-attribution tags
  (`gateway.policy.tags`), parse it by its endpoint's rules, check
  the model (or route) is the tenant's to use, plan the ladder of models to
  try (:func:`plan_call`, pure: `gateway route explain` runs it too), and check
  every id it names is the tenant's own.
- :func:`for_model` — once per attempt: the tenant's policy rewrites the body
  for that model, and the call's price and cost bound follow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from gateway.auth.callers import Caller
from gateway.bridge.endpoint import bridged
from gateway.config.runtime import Model, RuntimeConfig
from gateway.errors import BadRequest, PermissionDenied
from gateway.guardrails.pii.mask import Vault
from gateway.metering.usage import Usage
from gateway.policy import check_family, check_requested
from gateway.policy.request import Applied
from gateway.policy.tags import request_tags
from gateway.pricing import ModelPrice
from gateway.quota.bound import Sizing, token_estimate
from gateway.routing import NO_FEATURES, Plan, deprecation, features_of, plan
from gateway.shapes.endpoint import CreateRequest, Endpoint, Fetch
from gateway.shapes.form import with_field
from gateway.shapes.refs import Ref


class Owners(Protocol):
    """Who owns the objects a request names (`gateway.ownership.OwnershipStore`)."""

    async def owners_of(self, object_ids: Sequence[str]) -> dict[str, str]: ...


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request decided: who asks, through which endpoint, for what, along which ladder."""

    config: RuntimeConfig  # the request runs on the config it started with
    endpoint: Endpoint
    caller: Caller
    request: CreateRequest
    body: dict[str, Any]  # as the client sent it, parsed
    raw: bytes
    plan: Plan
    detail: Any = None  # what the endpoint's `inspect` read (a batch's input file)
    tags: str | None = None  # cost-attribution tags, canonical (`gateway.policy.tags`)
    pii: Vault | None = None  # placeholders sent upstream, restored in the answer
    deprecation: deprecation.Notice | None = None  # a deprecated model asked for or planned


@dataclass(frozen=True, slots=True)
class AttemptRequest:
    """One attempt's request: the body as the model gets it, and what it may cost."""

    model: Model
    body: dict[str, Any]
    raw: bytes
    applied: Applied
    bound: int  # nano-USD reserved before it goes upstream
    tokens: int  # charged to a TPM limit at admission
    units: Mapping[str, int] = field(default_factory=dict)  # priced by the request itself
    fallback: Usage | None = None  # charged when a successful answer reports no usage


async def prepare(
    config: RuntimeConfig,
    caller: Caller,
    endpoint: Endpoint,
    body: dict[str, Any],
    raw: bytes,
    *,
    owners: Owners,
    split_key: str,
    hint: str | None = None,
    fetch: Fetch | None = None,
    tags_header: bytes | None = None,
) -> Prepared:
    tags = request_tags(tags_header, body, caller.policy)
    if endpoint.inspect is not None:
        assert fetch is not None, "an endpoint that inspects what it names needs a fetch"
        return await _inspected(config, caller, endpoint, body, raw, owners, fetch, split_key, tags)
    prepared = plan_call(
        config, caller, endpoint, body, raw, split_key=split_key, hint=hint, tags=tags
    )
    await check_owned(owners, caller.tenant, prepared.request.refs)
    return prepared


async def _inspected(
    config: RuntimeConfig,
    caller: Caller,
    endpoint: Endpoint,
    body: dict[str, Any],
    raw: bytes,
    owners: Owners,
    fetch: Fetch,
    split_key: str,
    tags: str | None,
) -> Prepared:
    """A request whose model is in what it names: the names are checked before they are
    read, and the model found there is planned like any other (no route, no deprecation
    rewrite: nothing rewrites what is stored)."""
    assert endpoint.inspect is not None
    check_family(caller.policy, endpoint.family)
    await check_owned(owners, caller.tenant, endpoint.parse(body).refs)
    inspected = await endpoint.inspect(body, caller, config, fetch)
    request = inspected.request
    await check_owned(owners, caller.tenant, request.refs)  # what its content names, too
    check_requested(config, caller.policy, request.model)
    notice = deprecation.stored(config, request.model, deprecation.today())
    route_plan = plan(config, request.model, NO_FEATURES, split_key)
    detail = inspected.detail
    return Prepared(
        config, endpoint, caller, request, body, raw, route_plan, detail, tags, deprecation=notice
    )


async def check_owned(owners: Owners, tenant: str, refs: Sequence[Ref]) -> None:
    """Every id named must be the caller's; the first that is not is refused as missing."""
    if not refs:
        return
    found = await owners.owners_of([ref.object_id for ref in refs])
    for ref in refs:
        if found.get(ref.object_id) != tenant:
            raise ref.refused()


def plan_call(
    config: RuntimeConfig,
    caller: Caller,
    endpoint: Endpoint,
    body: dict[str, Any],
    raw: bytes,
    *,
    split_key: str,
    hint: str | None = None,
    tags: str | None = None,
    today: dt.date | None = None,
) -> Prepared:
    """Parse, check the model is the caller's to use, and plan the ladder (no I/O);
    a deprecated model is warned about, rewritten or refused (`gateway.routing.deprecation`)."""
    check_family(caller.policy, endpoint.family)
    request = endpoint.parse(body)
    if endpoint.fee is not None:
        fee = fee_plan(config, endpoint.fee(body))
        return Prepared(config, endpoint, caller, request, body, raw, fee, tags=tags)
    check_requested(config, caller.policy, request.model)
    on = deprecation.today() if today is None else today
    model, notice = deprecation.requested(config, request.model, on)
    routed = model in config.routes
    features = features_of(caller.tenant, body, raw, hint) if routed else NO_FEATURES
    route_plan, rung = deprecation.ladder(config, plan(config, model, features, split_key), on)
    notice = notice or rung
    if route_plan.chat_via_responses and bridged(endpoint) is not endpoint:
        endpoint = bridged(endpoint)
        request = endpoint.parse(body)  # what cannot be translated is refused here
    return Prepared(
        config, endpoint, caller, request, body, raw, route_plan, tags=tags, deprecation=notice
    )


def fee_plan(config: RuntimeConfig, fee: str) -> Plan:
    """A call priced by one fee has no model: its "model" is the fee, on the first upstream."""
    model = Model(name=fee, upstream=next(iter(config.upstreams)), upstream_model=fee)
    return Plan(None, (model,), frozenset(), False, 0.0, f"one {fee} fee")


def for_model(
    prepared: Prepared,
    model: Model,
    *,
    first: bool,
    amend: Callable[[dict[str, Any]], None] | None = None,
) -> AttemptRequest:
    """The attempt's body (policy applied), price and bound; refuses an unpriced model.

    The first attempt rewrites the parsed body in place; a later one starts
    again from the client's bytes, since policy rewrites depend on the model.
    ``amend`` adds to a later attempt's body before policy and pricing see it
    (a JSON repair's extra turns: priced and bounded like the client's own).
    """
    endpoint, caller, config = prepared.endpoint, prepared.caller, prepared.config
    if endpoint.form:  # an upload goes as it came: its fields are read, never rewritten
        body, raw = prepared.body, prepared.raw
        if model.upstream_model != prepared.request.model:
            raise BadRequest(
                "An upload can only name a model itself, not a route or an alias.",
                param="model",
                code="model_alias_not_supported",
            )
        if "model" not in body:  # the upstream's default might not be the model priced here
            raw = with_field(raw, "model", model.upstream_model)
    else:
        body = prepared.body if first else orjson.loads(prepared.raw)
        if amend is not None:
            amend(body)
    applied = endpoint.apply_policy(
        body, caller.policy, model, caller.tenant, prepared.request.stream
    )
    if endpoint.model_in_body and not endpoint.form:
        body["model"] = model.upstream_model
        raw = orjson.dumps(body)
    elif not endpoint.form:
        raw = prepared.raw  # sent as it came (a batch: its model is in its input file)
    price = require_price(config, model)
    bound = (
        0
        if price is None
        else endpoint.bound(
            Sizing(raw, body, model, price, applied, config.pricing, prepared.detail)
        )
    )
    units = {} if price is None or endpoint.units is None else endpoint.units(body, model, price)
    fallback = None
    if price is not None and endpoint.estimate is not None:
        fallback = endpoint.estimate(body, model, price)
    # An upload's bytes are not tokens: its TPM estimate is its text fields'.
    sized = orjson.dumps(body) if endpoint.form else raw
    tokens = token_estimate(sized, applied.cap * applied.choices)
    return AttemptRequest(model, body, raw, applied, bound, tokens, units, fallback)


def require_price(config: RuntimeConfig, model: Model) -> ModelPrice | None:
    """The model's price; an unpriced model is refused unless the operator allows it."""
    price = config.pricing.price_for(model.upstream_model)
    if price is None and not config.accounting.allow_unpriced:
        raise PermissionDenied(
            f"The model `{model.name}` has no price in the gateway's price table, so its "
            "cost cannot be controlled; ask the gateway's operators to add one.",
            param="model",
            code="model_not_priced",
        )
    return price
