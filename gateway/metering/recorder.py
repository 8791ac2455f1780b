"""Close an admitted call: price what it used, settle its reservation, write its ledger row.

This is the one place an upstream attempt becomes money. It runs exactly once
per attempt (the handler calls it in ``finally``), whatever happened: an
answer, an upstream failure, a stream cut by either side.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from gateway.config.runtime import RuntimeConfig
from gateway.ledger import Ledger, LedgerRecord
from gateway.ledger.queries import recorded_costs
from gateway.metering.outcome import Measured
from gateway.metering.usage import Usage
from gateway.pipeline.context import RequestContext
from gateway.pricing import NANOS_PER_USD, cost_of
from gateway.quota.orphans import Orphan
from gateway.quota.store import Quota
from gateway.quota.ticket import Ticket
from gateway.telemetry.metrics import TOKEN_KINDS, Metrics

log = logging.getLogger(__name__)
_TOKEN_FIELDS = tuple((kind, f"{kind}_tokens") for kind in TOKEN_KINDS)


class Recorder:
    def __init__(self, quota: Quota, ledger: Ledger, metrics: Metrics) -> None:
        self._quota = quota
        self._ledger = ledger
        self._metrics = metrics

    def finish(
        self,
        ctx: RequestContext,
        ticket: Ticket,
        measured: Measured,
        *,
        config: RuntimeConfig,
        upstream_model: str,
        status: int,
        attempt: int = 1,
        session_id: str | None = None,
        held: bool = False,
    ) -> int:
        """Settle and record; returns the cost in nano-USD.

        ``held``: the call goes on running upstream (a batch): its bound is charged now,
        and billed for what it used when it ends (`gateway.deferred`)."""
        pricing = config.pricing
        price = pricing.price_for(measured.served_model or "") or pricing.price_for(upstream_model)
        usage = measured.usage
        if held:
            cost, complete = ticket.bound, True
        elif price is None:
            cost, complete = 0, False
        else:
            c = cost_of(usage, price, pricing.tools, pricing.tier_multiplier(measured.service_tier))
            cost, complete = c.nanos, c.complete
        now = time.perf_counter()
        self._ledger.record(
            LedgerRecord(
                request_id=ctx.request_id,
                attempt=attempt,
                ts=datetime.fromtimestamp(ctx.wall_started, UTC),
                tenant=ticket.tenant,
                subject=ctx.subject,
                endpoint=ctx.endpoint,
                route=ctx.route,
                requested_model=ticket.model,
                served_model=measured.served_model,
                status=status,
                outcome=measured.outcome,
                input_tokens=usage.input_tokens,
                cached_input_tokens=usage.cached_input_tokens,
                output_tokens=usage.output_tokens,
                reasoning_tokens=usage.reasoning_tokens,
                audio_input_tokens=usage.audio_input_tokens,
                cached_audio_input_tokens=usage.cached_audio_input_tokens,
                audio_output_tokens=usage.audio_output_tokens,
                image_input_tokens=usage.image_input_tokens,
                tool_calls=usage.tool_calls,
                cost_nanos=cost,
                latency_ms=(now - ctx.started) * 1000,
                ttft_ms=ctx.ttft_s * 1000 if ctx.ttft_s is not None else None,
                response_id=measured.response_id,
                estimated=measured.estimated,
                unpriced=not complete,
                stream=ctx.stream,
                background=ctx.background,
                tags=ctx.tags,
                service=ctx.service,
                session_id=session_id,
                shadow_of=ctx.shadow_of,
            )
        )
        # After the row is queued: a shared quota counts the cost once the row is committed.
        self._quota.settle(ticket, cost, usage.total_input + usage.total_output, time.time())
        ctx.cost_nanos = cost
        ctx.spent_nanos += cost
        ctx.input_tokens, ctx.output_tokens = usage.total_input, usage.total_output
        if not held:  # a held bound is not spend yet: its bill is observed when it comes
            self.observe(
                config, ticket.tenant, ticket.model, usage, cost, ctx.endpoint, ctx.service
            )
        return cost

    def release(self, ticket: Ticket) -> None:
        """A reservation that started nothing upstream: given back, no ledger row."""
        self._quota.settle(ticket, 0, 0, time.time())

    @property
    def position(self) -> int:
        return self._ledger.position

    @property
    def committed(self) -> int:
        return self._ledger.committed

    def on_commit(self, callback: Callable[[], None]) -> None:
        self._ledger.on_commit(callback)

    def recorded_cost(self, refs: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """For reconciling a dead replica's reservations (`gateway.quota.shared`)."""
        return recorded_costs(self._ledger.engine, refs)

    def record_orphan(self, orphan: Orphan) -> None:
        """A call admitted by a replica that died before recording it: charged its bound."""
        request_id, attempt = orphan.ref or (f"orphan_{orphan.ticket}", 1)
        self._ledger.record(
            LedgerRecord(
                request_id=request_id,
                attempt=attempt,
                ts=datetime.fromtimestamp(orphan.admitted_at, UTC),
                tenant=orphan.tenant,
                endpoint="unknown",
                requested_model=orphan.model,
                status=0,
                outcome="orphaned",
                cost_nanos=orphan.bound,
                estimated=True,
                service=orphan.service,
                tags=orphan.tags,
            )
        )
        self._metrics.spend(orphan.tenant, orphan.model).inc(orphan.bound / NANOS_PER_USD)
        if orphan.service is not None:
            self._metrics.service_spend(orphan.tenant, orphan.service).inc(
                orphan.bound / NANOS_PER_USD
            )

    def observe(
        self,
        config: RuntimeConfig,
        tenant: str,
        model: str,
        usage: Usage,
        cost: int,
        endpoint: str,
        service: str | None = None,
    ) -> None:
        """Tokens and spend on the metrics (a call's, or a held call's bill).

        ``service`` is a listed name or "other" (`gateway.config.scopes.service_name`),
        so its label stays as bounded as the config."""
        metrics = self._metrics
        tenant = tenant if tenant in config.tenants else "_default"
        for kind, field in _TOKEN_FIELDS:
            tokens = getattr(usage, field)
            if tokens:
                metrics.tokens(tenant, model, kind).inc(tokens)
        if cost:
            metrics.spend(tenant, model).inc(cost / NANOS_PER_USD)
            if service is not None:
                metrics.service_spend(tenant, service).inc(cost / NANOS_PER_USD)
            if endpoint == "realtime":
                metrics.realtime_spend(tenant, model).inc(cost / NANOS_PER_USD)
