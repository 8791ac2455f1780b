"""Batches (``POST /v1/batches``): many requests in one input file, run upstream within 24 h.

The create call names its work instead of carrying it: the input file (the
caller's, checked before it is read) holds one request per JSONL line. Its
bound is the sum of the lines' bounds, each computed as its endpoint computes
one call's, at the batch price; every line must use the same model (the API's
own rule) and already fit the tenant's policy, because the lines go upstream
as written — the gateway cannot rewrite a stored file. A line that names a
stored object (a previous response, a file, a vector store) must name the
caller's. The batch is then billed once, when it ends (`gateway.deferred`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.auth.callers import Caller
from gateway.config.runtime import Model, Policy, RuntimeConfig
from gateway.errors import BadRequest, PermissionDenied
from gateway.metering.usage import from_responses
from gateway.policy import check_family
from gateway.policy.request import Applied
from gateway.quota.bound import Sizing
from gateway.shapes.chat import CHAT
from gateway.shapes.embeddings import EMBEDDINGS, MODERATIONS
from gateway.shapes.endpoint import (
    CreateRequest,
    Deferral,
    Endpoint,
    Fetch,
    Inspected,
    untouched,
)
from gateway.shapes.refs import BATCH, FILE, Ref
from gateway.shapes.responses import RESPONSES

# What a batch may run through this gateway, by the `endpoint` it names.
TARGETS: dict[str, Endpoint] = {
    "/v1/responses": RESPONSES,
    "/v1/chat/completions": CHAT,
    "/v1/embeddings": EMBEDDINGS,
    "/v1/moderations": MODERATIONS,
}
BATCH_TIER = "batch"  # the `service_tiers:` entry batch usage is priced at
_AT_BATCH = frozenset((BATCH_TIER,))
# The fields that limit a line's output and tool calls: a line the policy would have to
# change in them is refused (the file goes as written).
_LIMIT_FIELDS = ("max_output_tokens", "max_tokens", "max_completion_tokens", "max_tool_calls")


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """What the input file holds, as far as cost goes."""

    lines: int
    bound: int  # nano-USD at the batch price: the sum of the lines' bounds


def _parse(body: dict[str, Any]) -> CreateRequest:
    """The ids the body names (its model is only known once its input file is read)."""
    file_id = body.get("input_file_id")
    if not isinstance(file_id, str) or not file_id:
        raise BadRequest("You must provide an input_file_id parameter.", param="input_file_id")
    endpoint = body.get("endpoint")
    if endpoint not in TARGETS:
        listed = ", ".join(f"'{e}'" for e in TARGETS)
        raise BadRequest(
            f"Invalid value: '{endpoint}'. Supported values are: {listed}.",
            param="endpoint",
            code="invalid_value",
        )
    return CreateRequest("", stream=False, refs=(Ref(FILE, file_id),), creates=BATCH)


async def _inspect(
    body: dict[str, Any], caller: Caller, config: RuntimeConfig, fetch: Fetch
) -> Inspected:
    request = _parse(body)
    target = TARGETS[body["endpoint"]]
    check_family(caller.policy, target.family)
    upstream = next(iter(config.upstreams))
    content = await fetch(upstream, f"/files/{body['input_file_id']}/content")
    lines = _lines(content, body["endpoint"])
    model_name = lines[0][1]["model"]
    model = config.models.get(model_name)
    if model is None or model_name in config.routes or model.upstream_model != model_name:
        raise BadRequest(
            f"A batch runs the model its input file names, as named: `{model_name}` is not a "
            "model this gateway serves under that name (a route or an alias cannot be used).",
            param="input_file_id",
            code="model_not_found",
        )
    price = config.pricing.price_for(model_name)
    tier = config.pricing.tiers.get(BATCH_TIER)
    if (price is None or tier is None) and not config.accounting.allow_unpriced:
        missing = "price" if price is None else "batch price (service_tiers: batch)"
        raise PermissionDenied(
            f"The model `{model_name}` has no {missing} in the gateway's price table, so a "
            "batch of it cannot be controlled; ask the gateway's operators to add one.",
            param="input_file_id",
            code="model_not_priced",
        )
    refs: list[Ref] = list(request.refs)
    total = 0
    for number, line_body in lines:
        refs.extend(target.parse(line_body).refs)
        applied = _line_policy(target, line_body, caller.policy, model, caller.tenant, number)
        if price is not None:
            raw = orjson.dumps(line_body)
            total += target.bound(Sizing(raw, line_body, model, price, applied, config.pricing))
    bound = math.ceil(total * tier) if tier is not None else total
    made = CreateRequest(model_name, stream=False, refs=tuple(refs), creates=BATCH)
    return Inspected(made, BatchPlan(len(lines), bound))


def _lines(content: bytes, endpoint: str) -> list[tuple[int, dict[str, Any]]]:
    """Each request's line number and body; all must name one model."""
    out: list[tuple[int, dict[str, Any]]] = []
    model: str | None = None
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            request = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise _bad(number, "it is not valid JSON") from None
        if not isinstance(request, dict) or not isinstance(request.get("custom_id"), str):
            raise _bad(number, "it needs a 'custom_id' string")
        if request.get("url") != endpoint or request.get("method", "POST") != "POST":
            raise _bad(number, f"its method must be POST and its url {endpoint}, as the batch's")
        body = request.get("body")
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            raise _bad(number, "its 'body' must be an object with a 'model'")
        if body.get("stream"):
            raise _bad(number, "a batch's requests cannot stream")
        if model is not None and body["model"] != model:
            raise _bad(number, f"every request of a batch must use one model, as line 1: {model}")
        model = body["model"]
        out.append((number, body))
    if not out:
        raise BadRequest("The input file holds no requests.", param="input_file_id")
    return out


def _line_policy(
    target: Endpoint, body: dict[str, Any], policy: Policy, model: Model, tenant: str, n: int
) -> Applied:
    """The tenant's policy on one line, which must need no rewrite of its limits."""
    applied_to = dict(body)
    try:
        applied = target.apply_policy(applied_to, policy, model, tenant, False)
    except (BadRequest, PermissionDenied) as exc:
        raise type(exc)(f"Line {n} of the input file: {exc.message}", param="input_file_id",
                        code=exc.code) from None  # fmt: skip
    for field in _LIMIT_FIELDS:
        if applied_to.get(field) == body.get(field):
            continue
        unset = applied.cap_action == "set" and field != "max_tool_calls"
        if unset and model.max_output_tokens and applied.cap >= model.max_output_tokens:
            continue  # no cap lower than the model's own: the model's bounds the line
        raise _bad(
            n,
            f"'{field}' must be set, at most {applied_to[field]} for your tenant (a batch's "
            "requests go upstream as written)",
        )
    return dataclasses.replace(applied, tiers=_AT_BATCH)  # its multiplier is applied once


def _bad(number: int, why: str) -> BadRequest:
    return BadRequest(
        f"Line {number} of the input file cannot run: {why}.",
        param="input_file_id",
        code="invalid_batch_line",
    )


BATCH_DEFERRAL = Deferral(
    kind=BATCH.name,
    path="/batches/{id}",
    terminal=frozenset({"completed", "failed", "expired", "cancelled"}),
    tier=BATCH_TIER,
)


def _bound(s: Sizing) -> int:
    plan: BatchPlan = s.detail
    return plan.bound


BATCHES = Endpoint(
    name="batches",
    family="batches",
    upstream_path="/batches",
    parse=_parse,
    apply_policy=lambda body, policy, model, tenant, stream: untouched(),
    usage=from_responses,  # a batch's `usage` has the Responses shape
    bound=_bound,
    inspect=_inspect,
    model_in_body=False,
    defer=BATCH_DEFERRAL,
)
