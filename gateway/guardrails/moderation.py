"""The moderation pre-check: a call's input text through ``/v1/moderations`` before it is admitted.

The check is a call of its own through the one pipeline (`Pipeline.serve` with
the ``moderations`` endpoint's description): planned, admitted under the
tenant's budgets, metered and settled as its own ledger row (request id
``<request id>.mod``). Only its answer is captured here instead of going to
the client. A flagged category the tenant lists refuses the call (400); a
failed check admits it or answers 503, as the tenant's ``on_error`` says.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client import CollectorRegistry, Counter

from gateway.auth.callers import Caller
from gateway.config.moderation import ModerationPolicy
from gateway.config.runtime import RuntimeConfig
from gateway.errors import BadRequest, BudgetExceeded, GatewayError, RateLimited, ServiceUnavailable
from gateway.pipeline.captured import Captured
from gateway.pipeline.context import RequestContext
from gateway.pipeline.prepare import Prepared
from gateway.routing import NO_FEATURES, plan
from gateway.shapes.embeddings import MODERATIONS
from gateway.shapes.endpoint import CreateRequest
from gateway.telemetry.labels import tenant_label

if TYPE_CHECKING:
    from gateway.pipeline.core import Pipeline

log = logging.getLogger("gateway.moderation")

_INPUT_PARAM = {"responses": "input", "chat": "messages"}  # the families checked
_TEXT_PARTS = frozenset({"text", "input_text"})


class ModerationChecks:
    """``gateway_moderation_checks_total{tenant,result}``: passed, flagged, failed_open,
    failed_closed."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._counter = Counter(
            "gateway_moderation_checks_total",
            "Moderation pre-checks, by tenant and result (passed, flagged, failed_open, "
            "failed_closed).",
            ["tenant", "result"],
            registry=registry,
        )

    def inc(self, tenant: str, result: str) -> None:
        self._counter.labels(tenant, result).inc()


async def pre_check(pipeline: Pipeline, prepared: Prepared, ctx: RequestContext) -> None:
    """Refuses the call if its input is flagged in a category the tenant lists."""
    param = _INPUT_PARAM.get(prepared.endpoint.family)
    if prepared.caller.policy.moderation is None or param is None:
        return
    text = input_text(prepared.body)
    await check_text(pipeline, prepared.config, prepared.caller, ctx, text, param, prepared.tags)


async def check_text(
    pipeline: Pipeline,
    config: RuntimeConfig,
    caller: Caller,
    ctx: RequestContext,
    text: str,
    param: str,
    tags: str | None = None,
) -> None:
    """Refuses ``text`` (400 ``content_flagged`` naming ``param``) if it is flagged in a
    category the tenant lists; a failed check refuses (503) or passes per ``on_error``."""
    rule = caller.policy.moderation
    if rule is None or not text:
        return
    tenant = tenant_label(config, caller.tenant)
    checks: ModerationChecks = pipeline.metrics.moderation
    try:
        status, answer = await _moderate(pipeline, config, caller, ctx, rule.model, text, tags)
    except (RateLimited, BudgetExceeded):
        raise  # the tenant's own limits: the call itself would be refused too
    except GatewayError as err:
        status, answer = err.status, None
    if status != 200 or answer is None:
        _failed(checks, tenant, ctx, rule, status)
        return
    flagged = flagged_categories(answer, rule.categories)
    checks.inc(tenant, "flagged" if flagged else "passed")
    if flagged:
        raise BadRequest(
            f"The input was flagged by moderation: {', '.join(flagged)}.",
            param=param,
            code="content_flagged",
        )


def _failed(
    checks: ModerationChecks, tenant: str, ctx: RequestContext, rule: ModerationPolicy, status: int
) -> None:
    result = "failed_open" if rule.on_error == "fail_open" else "failed_closed"
    checks.inc(tenant, result)
    log.warning(
        "moderation check failed",
        extra={"fields": {"tenant": tenant, "request_id": ctx.request_id, "status": status,
                          "result": result}},
    )  # fmt: skip
    if result == "failed_closed":
        raise ServiceUnavailable(
            "The moderation check of this request failed; try again later.",
            code="moderation_unavailable",
        )


async def _moderate(
    pipeline: Pipeline,
    config: RuntimeConfig,
    caller: Caller,
    ctx: RequestContext,
    model: str,
    text: str,
    tags: str | None,
) -> tuple[int, dict[str, Any] | None]:
    """One moderations call through the pipeline; its status and JSON answer."""
    body: dict[str, Any] = {"model": model, "input": text}
    sub = RequestContext.start("POST", "/v1/moderations", MODERATIONS.name, f"{ctx.request_id}.mod")
    sub.tenant, sub.subject, sub.service, sub.tags = ctx.tenant, ctx.subject, ctx.service, ctx.tags
    sub.model = model
    # The gateway's call, not the client's: it takes no request of the tenant's RPM.
    checker = Caller(caller.principal, replace(caller.policy, rpm=None), caller.service)
    moderation = Prepared(
        config,
        MODERATIONS,
        checker,
        CreateRequest(model, stream=False),
        body,
        orjson.dumps(body),
        plan(config, model, NO_FEATURES, sub.request_id),
        tags=tags,
    )
    down = Captured(sub)
    await pipeline.serve(down, moderation)
    try:
        answer = orjson.loads(bytes(down.body)) if down.status == 200 else None
    except orjson.JSONDecodeError:
        return 0, None
    return down.status, answer if isinstance(answer, dict) else None


def flagged_categories(answer: dict[str, Any], wanted: list[str]) -> list[str]:
    """The flagged categories (of any result) among ``wanted`` (``*``: all), sorted."""
    found: set[str] = set()
    for result in answer.get("results") or []:
        categories = result.get("categories") if isinstance(result, dict) else None
        if isinstance(categories, dict):
            found.update(c for c, on in categories.items() if on is True)
    if "*" not in wanted:
        found &= set(wanted)
    return sorted(found)


def input_text(body: dict[str, Any]) -> str:
    """The text a Responses ``input`` or Chat ``messages`` carries, parts joined by lines."""
    texts: list[str] = []
    _collect(body.get("input"), texts)
    _collect(body.get("messages"), texts)
    return "\n".join(texts)


def _collect(value: Any, texts: list[str]) -> None:
    if isinstance(value, str):
        texts.append(value)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                if item.get("type") in _TEXT_PARTS and isinstance(item.get("text"), str):
                    texts.append(item["text"])
                _collect(item.get("content"), texts)
