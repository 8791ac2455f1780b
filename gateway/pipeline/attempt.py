"""One HTTP upstream attempt, as an async context manager: admitted on entry, metered on exit.

``async with Attempt(...)`` reserves the call's bound (a refusal raises from
the ``async with`` line, before anything is sent). Whatever way the body of
the block ends — an answer, an upstream error, the client gone, a
cancellation at shutdown — the exit measures what the attempt used, settles
it exactly once, feeds the upstream's circuit breaker, and closes the
attempt's metrics and span. A :class:`GatewayError` inside the block is the
attempt's failure: it is kept (``failure``), not raised, so the caller can
decide whether another attempt follows.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from gateway.errors import GatewayError
from gateway.guardrails.toolcalls import called
from gateway.metering.outcome import Measured, Outcome, measure
from gateway.pipeline.context import RequestContext
from gateway.pipeline.meter import Call
from gateway.pipeline.prepare import AttemptRequest, Prepared
from gateway.shapes.refs import RESPONSE
from gateway.telemetry.labels import tenant_label

if TYPE_CHECKING:
    from gateway.pipeline.core import Pipeline


class Attempt:
    __slots__ = (
        "_parent",
        "_pipeline",
        "_sent_at",
        "_span",
        "call",
        "ctx",
        "failure",
        "headers",
        "measured",
        "number",
        "outcome",
        "prepared",
        "request",
        "truncated",
    )

    def __init__(
        self,
        pipeline: Pipeline,
        ctx: RequestContext,
        prepared: Prepared,
        request: AttemptRequest,
        number: int,
        headers: dict[str, str],
        parent_span: Any,
    ) -> None:
        self._pipeline = pipeline
        self.ctx = ctx
        self.prepared = prepared
        self.request = request
        self.number = number  # 1, 2, ... over the request's attempts
        self.headers = headers  # the upstream request's (the span injects its trace context)
        self._parent = parent_span
        self._span: Any = None
        self._sent_at = 0.0
        self.outcome = Outcome()
        self.failure: GatewayError | None = None
        self.measured: Measured | None = None
        self.truncated = False  # an output cap the gateway set or lowered ended the answer

    async def __aenter__(self) -> Attempt:
        request = self.request
        self.call: Call = await self._pipeline.admit(
            self.ctx, self.prepared, request, attempt=self.number
        )
        self._sent_at = time.perf_counter()
        if self._parent is not None:
            name = f"chat {request.model.upstream_model}"
            self._span = self._pipeline.tracing.attempt_span(self._parent, name, self.headers)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        outcome = self.outcome
        if isinstance(exc, GatewayError):
            self.failure, outcome.error_code = exc, exc.code
        request = self.request
        endpoint = self.prepared.endpoint
        measured = measure(endpoint, outcome, len(request.raw), request.units, request.fallback)
        self.measured = measured
        running = self._runs_on()
        self.call.settle(measured, outcome.status, held=running is not None)
        if running is not None and endpoint.defer is not None:  # billed when it ends upstream
            assert self._pipeline.deferred is not None
            await self._pipeline.deferred.hold(self.call, endpoint.defer, running)
        self._note_tool_calls()
        if self.prepared.request.creates is RESPONSE and outcome.status < 400:
            answer = outcome.body or (outcome.facts.response if outcome.facts else None)
            self._pipeline.own_items(self.prepared.caller.tenant, answer)
        applied = request.applied
        reached = measured.usage.total_output >= applied.cap * applied.choices > 0
        by_gateway = applied.cap_action in ("set", "clamped")
        self.truncated = self.ctx.truncated_by_cap = by_gateway and reached
        if self.truncated:
            tenant = tenant_label(self.prepared.config, self.prepared.caller.tenant)
            self._pipeline.metrics.truncated(tenant, request.model.name, endpoint.name).inc()
        model = self.request.model
        self._pipeline.pool.get(model.upstream).note(outcome.status, self.failure)
        self._observe(time.perf_counter() - self._sent_at)
        if self._span is not None:
            self._end_span(measured)
        return self.failure is not None

    def _note_tool_calls(self) -> None:
        names = called(self.prepared.endpoint.family, self.outcome)
        if names:
            prepared = self.prepared
            self._pipeline.metrics.tool_calls.note(
                names,
                tenant=tenant_label(prepared.config, prepared.caller.tenant),
                request_id=self.ctx.request_id,
                allowed=prepared.caller.policy.functions,
            )

    def _runs_on(self) -> dict[str, Any] | None:
        """The object this call left running upstream (a batch, a background response whose
        answer or stream ended before it did), if any: it is billed when it ends."""
        deferral, outcome = self.prepared.endpoint.defer, self.outcome
        if deferral is None or not 200 <= outcome.status < 300:
            return None
        if outcome.body is not None:
            return outcome.body if outcome.body.get("status") not in deferral.terminal else None
        facts = outcome.facts
        if self.prepared.request.background and facts is not None and facts.response_id:
            ended = facts.status in deferral.terminal and facts.usage is not None
            return None if ended else {"id": facts.response_id}
        return None

    def _observe(self, took: float) -> None:
        metrics, model, failure = self._pipeline.metrics, self.request.model, self.failure
        metrics.upstream_duration(model.upstream, model.name).observe(took)
        status = self.outcome.status
        if failure is not None:
            metrics.upstream_errors(model.upstream, failure.code or "transport").inc()
        elif status >= 400:
            kind = "status_429" if status == 429 else f"status_{status // 100}xx"
            metrics.upstream_errors(model.upstream, kind).inc()

    def _end_span(self, measured: Measured) -> None:
        usage, outcome = measured.usage, self.outcome
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": self.request.model.upstream_model,
            "gen_ai.response.model": measured.served_model,
            "gen_ai.usage.input_tokens": usage.total_input,
            "gen_ai.usage.output_tokens": usage.total_output,
            "http.response.status_code": outcome.status,
            "gateway.attempt": self.number,
            "gateway.outcome": measured.outcome,
            "error.type": outcome.error_code,
        }
        self._span.set_attributes({k: v for k, v in attributes.items() if v is not None})
        self._span.end()
