"""A metered call: admitted with its bound reserved, settled exactly once, however it ends.

Every upstream call of every endpoint — an HTTP attempt, a Responses-socket
response, a Realtime response — is one :class:`Call`. :meth:`Meter.admit`
reserves its cost bound and rate share (or raises the refusal); the call's
:meth:`Call.settle` prices what it used, writes its ledger row and gives the
reservation back, once: a second settle is a no-op, so a path that might
settle twice (a terminal event, then the socket closing) cannot bill twice.
"""

from __future__ import annotations

import time
from dataclasses import replace

from gateway.auth.callers import Caller
from gateway.config.runtime import Model, RuntimeConfig
from gateway.metering.outcome import PENDING, Measured
from gateway.metering.recorder import Recorder
from gateway.pipeline.context import RequestContext
from gateway.quota.store import Quota, Ticket


class Call:
    __slots__ = ("_recorder", "attempt", "config", "cost", "ctx", "model", "ticket")

    def __init__(
        self,
        recorder: Recorder,
        ctx: RequestContext,
        ticket: Ticket,
        model: Model,
        config: RuntimeConfig,
        attempt: int,
    ) -> None:
        self._recorder = recorder
        self.ctx = ctx
        self.ticket = ticket
        self.model = model
        self.config = config
        self.attempt = attempt
        self.cost: int | None = None  # nano-USD, once settled

    @property
    def settled(self) -> bool:
        return self.cost is not None

    def settle(
        self, measured: Measured, status: int, *, session_id: str | None = None, held: bool = False
    ) -> int:
        """Price, record and release; returns the cost in nano-USD (0 if already settled).

        ``held``: the call goes on upstream (a batch, a background response): its bound is
        charged, as a pending row, until it is billed (`gateway.deferred`)."""
        if self.cost is not None:
            return 0
        self.cost = self._recorder.finish(
            self.ctx,
            self.ticket,
            replace(measured, outcome=PENDING, estimated=True) if held else measured,
            config=self.config,
            upstream_model=self.model.upstream_model,
            status=status,
            attempt=self.attempt,
            session_id=session_id,
            held=held,
        )
        return self.cost

    def release(self) -> None:
        """Nothing ran upstream after all (a reserved steer no successor used): no row."""
        if self.cost is None:
            self.cost = 0
            self._recorder.release(self.ticket)


class Meter:
    """Where a call's money moves: admission here, settlement in :class:`Call`."""

    def __init__(self, quota: Quota, recorder: Recorder) -> None:
        self.quota = quota
        self.recorder = recorder

    async def admit(
        self,
        ctx: RequestContext,
        caller: Caller,
        config: RuntimeConfig,
        model: Model,
        *,
        bound: int,
        tokens: int,
        attempt: int = 1,
        force: bool = False,
    ) -> Call:
        """Reserve the call's bound and rate share, or raise the refusal (429/503).

        ``force`` admits what already runs upstream (a response the server
        started by itself): it is billed even when it does not fit.
        """
        policy = caller.policy
        if attempt > 1 and policy.rpm is not None:
            # RPM counts the client's requests; a retry or an escalation is the platform's
            # doing. TPM, concurrency and budgets count attempts: each uses the upstream.
            policy = replace(policy, rpm=None)
        ticket = await self.quota.admit(
            caller.tenant,
            model.name,
            policy,
            bound=bound,
            tokens=tokens,
            now=time.time(),
            force=force,
            ref=(ctx.request_id, attempt),  # its ledger row's key, should this replica die
            service=caller.service,
            tags=ctx.tags,
        )
        return Call(self.recorder, ctx, ticket, model, config, attempt)
