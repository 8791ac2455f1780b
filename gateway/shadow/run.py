"""Shadow calls: a sampled copy of a route's call to its candidate, after the client's answer.

The client's call is untouched: its answer is copied as it is sent (only when
the call was sampled), and the shadow starts once that answer is complete,
as a background task the client never waits for. The shadow is a call of the
one pipeline like any other (planned on the candidate ladder, admitted, metered
as its own ledger row ``<request id>.shadow``, settled once), made
non-streaming, never stored upstream, and charged to ``shadow.charge_to`` under
its budgets and limits in strict mode: when that budget is spent or a limit is
reached, the shadow is skipped, never queued. A replica runs at most
``shadow.max_in_flight`` of them at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from gateway.auth.callers import Caller
from gateway.auth.principal import Principal
from gateway.cache.recording import Recording
from gateway.config.shadow import CALLER
from gateway.errors import BudgetExceeded, GatewayError, PermissionDenied, RateLimited
from gateway.pipeline.captured import Captured
from gateway.pipeline.context import RequestContext
from gateway.pipeline.http import Downstream, serve
from gateway.pipeline.prepare import Prepared
from gateway.pricing import NANOS_PER_USD
from gateway.routing.plan import Plan
from gateway.shadow.compare import Side, read, similarity
from gateway.shadow.store import PairStore
from gateway.shadow.table import PairRecord

if TYPE_CHECKING:
    from gateway.pipeline.core import Pipeline

log = logging.getLogger("gateway.shadow")

FAMILIES = frozenset({"responses", "chat"})
SUFFIX = ".shadow"  # the shadow's ledger row: the client's request id and this


@dataclass(slots=True)
class Sampled:
    """A call picked for shadowing: what its client is sent is copied here."""

    recording: Recording
    route: str


class Shadows:
    def __init__(
        self,
        pipeline: Pipeline,
        store: PairStore,
        spawn: Callable[[asyncio.Task[None]], None],
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._pipeline = pipeline
        self._store = store
        self._spawn = spawn  # keeps the task until it ends; shutdown cancels it
        self._rng = rng
        self.in_flight = 0

    def pick(self, down: Downstream, prepared: Prepared) -> Sampled | None:
        """The call's copy, if its route shadows it and this one is in the sample."""
        plan = prepared.plan
        if plan.shadow is None or plan.route is None or self._rng() >= plan.shadow.sample:
            return None
        if not shadowable(prepared):
            self._count(plan, "skipped_ineligible")
            return None
        limit = prepared.config.source.shadow.max_compared_bytes
        return Sampled(Recording(down, limit), plan.route)

    def after(self, sampled: Sampled, prepared: Prepared, failed: int | None = None) -> None:
        """The client has its answer (or the error ``failed``, an HTTP status): start the
        shadow, unless the replica's share of them is busy."""
        ctx = sampled.recording.ctx
        if ctx.attempts == 0:  # nothing went upstream (a cached answer): nothing to compare
            return
        if ctx.client_gone:  # half an answer says nothing of the model
            return self._count(prepared.plan, "skipped_client_gone")
        body = sampled.recording.body
        if body is None:
            return self._count(prepared.plan, "skipped_large")
        if self.in_flight >= prepared.config.source.shadow.max_in_flight:
            return self._count(prepared.plan, "skipped_busy")
        answer = Answer(sampled.recording.status, body, failed)
        primary = Primary(
            answer, ctx.rung or ctx.model or "-", time.perf_counter() - ctx.started, ctx.spent_nanos
        )
        self.in_flight += 1
        task = asyncio.create_task(self._run(prepared, ctx, primary), name="shadow")
        self._spawn(task)

    async def _run(self, prepared: Prepared, ctx: RequestContext, primary: Primary) -> None:
        try:
            await self._shadow(prepared, ctx, primary)
        except Exception as exc:  # a shadow never takes the replica down; one line says why
            fields = {"request_id": ctx.request_id, "error": repr(exc)}
            log.error("shadow call failed", extra={"fields": fields})
        finally:
            self.in_flight -= 1

    async def _shadow(self, prepared: Prepared, ctx: RequestContext, primary: Primary) -> None:
        plan = prepared.plan
        given = primary.answer  # read here, off the client's exchange
        family, stream = prepared.endpoint.family, prepared.request.stream
        if given.failed is None:
            client_side = read(family, given.status, given.body, stream, prepared.body)
        else:
            client_side = Side.failed(given.failed)
        copy, sub = shadow_call(prepared, ctx)
        down = Captured(sub)
        started = time.perf_counter()
        try:
            await serve(self._pipeline, down, copy)
        except GatewayError as failed:
            if sub.attempts == 0:  # refused before it went upstream: nothing spent
                return self._count(plan, _skipped(failed))
            down.status = failed.status
        latency = time.perf_counter() - started
        if len(down.body) > prepared.config.source.shadow.max_compared_bytes:
            return self._count(plan, "skipped_large")
        side = read(family, down.status, bytes(down.body), False, copy.body)
        shadow_model = sub.rung or copy.plan.ladder[0].name
        pair = _pair(ctx, prepared, primary, client_side, side, shadow_model, latency,
                     sub.spent_nanos)  # fmt: skip
        self._observe(pair, client_side, side)
        self._store.add(pair)

    def _observe(self, pair: PairRecord, primary: Side, shadow: Side) -> None:
        metrics = self._pipeline.metrics.shadow
        route, p_model, s_model = pair.route, pair.primary_model, pair.shadow_model
        metrics.calls.labels(route, s_model, "compared" if shadow.ok else "failed").inc()
        metrics.side(route, "primary", p_model, primary, pair.primary_latency_ms / 1000,
                     pair.primary_cost_nanos / NANOS_PER_USD)  # fmt: skip
        metrics.side(route, "shadow", s_model, shadow, pair.shadow_latency_ms / 1000,
                     pair.shadow_cost_nanos / NANOS_PER_USD)  # fmt: skip
        if pair.similarity is not None:
            metrics.similarity.labels(route, p_model, s_model).observe(pair.similarity)

    def _count(self, plan: Plan, result: str) -> None:
        assert plan.shadow is not None
        assert plan.route is not None
        self._pipeline.metrics.shadow.calls.labels(
            plan.route, plan.shadow.ladder[0].name, result
        ).inc()


@dataclass(frozen=True, slots=True)
class Answer:
    """What the client was sent: status and body, or the error status it got instead."""

    status: int
    body: bytes
    failed: int | None


@dataclass(frozen=True, slots=True)
class Primary:
    """The client's call, when its answer was complete."""

    answer: Answer
    model: str  # the configured model (rung) that answered
    latency_s: float
    cost_nanos: int  # every attempt's


def shadowable(prepared: Prepared) -> bool:
    """A call whose copy has no effect but its cost: Responses or Chat, not run in the
    background, not appending to a stored conversation."""
    body = prepared.body
    return (
        prepared.endpoint.family in FAMILIES
        and not prepared.request.background
        and body.get("conversation") is None
    )


def shadow_call(prepared: Prepared, ctx: RequestContext) -> tuple[Prepared, RequestContext]:
    """The shadow's prepared call and context: the client's request (as it went upstream,
    redacted if it was) on the candidate ladder, non-streaming, not stored, paid by the
    shadow account."""
    assert prepared.plan.shadow is not None
    body: dict[str, Any] = orjson.loads(prepared.raw)
    body["stream"] = False
    body.pop("stream_options", None)
    if prepared.endpoint.family == "responses" or "store" in body:
        body["store"] = False
    ladder = prepared.plan.shadow.ladder
    body["model"] = ladder[0].name
    payer = _payer(prepared)
    request = replace(prepared.request, model=ladder[0].name, stream=False, creates=None)
    plan = replace(
        prepared.plan,
        ladder=ladder,
        buffer_streams=False,
        retry_after_max_s=0.0,  # an upstream 429 is not waited out for a shadow
        why=f"shadow of route {prepared.plan.route}",
        shadow=None,
    )
    copy = Prepared(
        prepared.config, prepared.endpoint, payer, request, body, orjson.dumps(body), plan,
        tags=prepared.tags,
    )  # fmt: skip
    sub = RequestContext.start("POST", ctx.path, ctx.endpoint, ctx.request_id + SUFFIX)
    sub.tenant, sub.subject, sub.service = payer.tenant, ctx.subject, payer.service
    sub.tags, sub.model, sub.shadow_of = ctx.tags, ladder[0].name, ctx.tenant
    return copy, sub


# What a shadow account decides: how much and how fast. The rest of the policy (output
# caps, tools, tiers, store) is the calling tenant's, so the candidate gets the request the
# client's own upstream call was shaped into.
_ACCOUNT_FIELDS = ("rpm", "tpm", "concurrent", "budgets", "when_store_down")


def _payer(prepared: Prepared) -> Caller:
    """Who the shadow is charged to, in strict mode: its budget is a hard stop."""
    config, caller = prepared.config, prepared.caller
    account = config.source.shadow.charge_to
    if account == CALLER or account is None:
        return replace(caller, policy=replace(caller.policy, budget_mode="strict"))
    own = config.policy_for(account)
    if own is None:  # the config's validation keeps this from happening
        raise PermissionDenied(f"The shadow account {account!r} is not configured.")
    quota = {name: getattr(own, name) for name in _ACCOUNT_FIELDS}
    policy = replace(caller.policy, services=None, budget_mode="strict", **quota)
    return Caller(Principal(account, "shadow", False, math.inf), policy)


def _skipped(refused: GatewayError) -> str:
    """Why admission (or the payer's policy, or a quota store down) refused the shadow."""
    if isinstance(refused, BudgetExceeded):
        return "skipped_budget"
    return "skipped_rate_limited" if isinstance(refused, RateLimited) else "skipped_refused"


def _pair(
    ctx: RequestContext,
    prepared: Prepared,
    primary: Primary,
    p: Side,
    shadow: Side,
    shadow_model: str,
    latency_s: float,
    cost_nanos: int,
) -> PairRecord:
    both = p.ok and shadow.ok
    return PairRecord(
        ts=datetime.fromtimestamp(ctx.wall_started, UTC),
        request_id=ctx.request_id,
        route=prepared.plan.route or "-",
        tenant=ctx.tenant or "-",
        endpoint=ctx.endpoint,
        primary_model=primary.model,
        shadow_model=shadow_model,
        primary_status=p.status,
        shadow_status=shadow.status,
        primary_ok=p.ok,
        shadow_ok=shadow.ok,
        primary_json_valid=p.json_valid,
        shadow_json_valid=shadow.json_valid,
        primary_refusal=p.refusal,
        shadow_refusal=shadow.refusal,
        primary_output_tokens=p.output_tokens,
        shadow_output_tokens=shadow.output_tokens,
        primary_chars=len(p.text),
        shadow_chars=len(shadow.text),
        primary_latency_ms=primary.latency_s * 1000,
        shadow_latency_ms=latency_s * 1000,
        primary_cost_nanos=primary.cost_nanos,
        shadow_cost_nanos=cost_nanos,
        similarity=similarity(p.text, shadow.text) if both else None,
    )
