"""Calls billed when they end upstream (batches): held at their bound, billed exactly once.

A batch's create answer starts work that runs for up to a day. Its bound,
reserved before the create went upstream, is charged at once as a ``pending``
ledger row (so the budget holds it across restarts and replicas), and a
`PendingCharge` row says the call is still to be billed. Whichever comes
first bills it: a client's retrieve, cancel or list that shows the object
ended, or this module's watcher, which asks the upstream about due charges
(any replica; a claim per check keeps two from asking at once; each charge is
asked about less and less often, and a round asks about a bounded number).
Billing rewrites the pending row with what the object used at its tier's
price, and moves the budgets by the difference from the bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.engine import Engine

from gateway.config.runtime import RuntimeConfig
from gateway.deferred import sql
from gateway.deferred.bill import Bill, bill, next_check_s
from gateway.deferred.table import PendingCharge
from gateway.errors import GatewayError
from gateway.ledger import Ledger
from gateway.metering.recorder import Recorder
from gateway.pipeline.meter import Call
from gateway.quota.orphans import CounterKey
from gateway.quota.store import Quota
from gateway.shapes.endpoint import Deferral
from gateway.shapes.sse import json_object
from gateway.upstream import UpstreamPool

log = logging.getLogger(__name__)

FIRST_CHECK_S = 30.0  # a new batch is asked about after this long, then less and less often
MOST_CHECK_S = 600.0
ROUND_S = 10.0  # the watcher's round
PER_ROUND = 20  # charges asked about per round and replica: the upstream's polling load


class DeferredCharges:
    def __init__(
        self,
        engine: Engine,
        ledger: Ledger,
        quota: Quota,
        recorder: Recorder,
        pool: UpstreamPool,
        config: Callable[[], RuntimeConfig],
        deferrals: Mapping[str, Deferral],
        *,
        clock: Callable[[], float] = time.time,
        round_s: float = ROUND_S,
        per_round: int = PER_ROUND,
    ) -> None:
        self._engine, self._ledger, self._quota, self._recorder = engine, ledger, quota, recorder
        self._pool, self._config, self._clock = pool, config, clock
        self._deferrals = deferrals  # by kind
        self._round_s, self._per_round = round_s, per_round
        self._task: asyncio.Task[None] | None = None
        self.billed = 0  # calls this replica billed (for tests and logs)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    # ------------------------------------------------------------------ holding

    async def hold(self, call: Call, deferral: Deferral, answer: Mapping[str, Any]) -> None:
        """The call's answer started an object that runs on: its bound stays charged."""
        object_id = answer.get("id")
        if not isinstance(object_id, str):
            return
        now = self._now()
        charge = PendingCharge(
            object_id=object_id,
            kind=deferral.kind,
            tenant=call.ticket.tenant,
            request_id=call.ctx.request_id,
            attempt=call.attempt,
            model=call.model.upstream_model,
            upstream=call.model.upstream,
            bound_nanos=call.ticket.bound,
            counters=orjson.dumps(call.ticket.counters).decode(),
            created_at=now,
            next_check_at=now + timedelta(seconds=FIRST_CHECK_S),
        )
        await asyncio.to_thread(sql.add, self._engine, charge)

    # ------------------------------------------------------------------ billing

    async def observe(self, kind: str, answers: Sequence[Mapping[str, Any]]) -> None:
        """A client saw these objects (a retrieve, a cancel, a list): bill those that ended."""
        deferral = self._deferrals[kind]
        ended = {
            a["id"]: a
            for a in answers
            if isinstance(a.get("id"), str)
            and a.get("status") in deferral.terminal
            and (deferral.only_if is None or a.get(deferral.only_if) is True)
        }
        if not ended:
            return
        for charge in await asyncio.to_thread(sql.get, self._engine, list(ended)):
            await self._bill(charge, deferral, ended[charge.object_id])

    async def _bill(
        self, charge: PendingCharge, deferral: Deferral, answer: Mapping[str, Any]
    ) -> None:
        config = self._config()
        output = None
        file_id = answer.get("output_file_id")
        if not isinstance(answer.get("usage"), dict) and isinstance(file_id, str):
            _, output = await self._read(charge.upstream, f"/files/{file_id}/content")
        the_bill = bill(charge, answer, config.pricing, deferral.tier, output)
        await self._ledger.flush()  # this replica's pending row, if it is still queued
        done = await asyncio.to_thread(sql.finish, self._engine, charge, the_bill.ledger_values())
        if done:
            service = await asyncio.to_thread(sql.service_of, self._engine, charge)
            self._settled(config, charge, the_bill, service)

    def _settled(
        self, config: RuntimeConfig, charge: PendingCharge, the_bill: Bill, service: str | None
    ) -> None:
        counters: tuple[CounterKey, ...] = tuple(
            (tenant, model, window) for tenant, model, window in orjson.loads(charge.counters)
        )
        self._quota.adjust(counters, the_bill.cost - charge.bound_nanos)
        self._recorder.observe(
            config, charge.tenant, charge.model, the_bill.usage, the_bill.cost, charge.kind, service
        )
        self.billed += 1
        log.info(
            "%s %s of tenant %s billed: $%.6f (held $%.6f)%s",
            charge.kind, charge.object_id, charge.tenant, the_bill.cost / 1e9,
            charge.bound_nanos / 1e9, " estimated" if the_bill.estimated else "",
        )  # fmt: skip

    async def _read(self, upstream: str, path: str) -> tuple[int, bytes | None]:
        """The upstream's status and body (0, None when it could not be reached)."""
        try:
            status, body = await self._pool.get(upstream).fetch(path)
        except GatewayError:
            return 0, None
        return status, body if status == 200 else None

    # ------------------------------------------------------------------ watching

    async def check_due(self, at: float | None = None) -> int:
        """One round (as of ``at``, by default now): ask the upstream about due charges;
        returns how many were billed."""
        now = datetime.fromtimestamp(at, UTC) if at is not None else self._now()
        billed = self.billed
        for charge in await asyncio.to_thread(sql.due, self._engine, now, self._per_round):
            wait = next_check_s(charge.checks, FIRST_CHECK_S, MOST_CHECK_S)
            later = now + timedelta(seconds=wait)
            if not await asyncio.to_thread(sql.claim, self._engine, charge, later):
                continue  # another replica is asking
            deferral = self._deferrals.get(charge.kind)
            if deferral is None:
                continue
            path = deferral.path.format(id=charge.object_id)
            status, raw = await self._read(charge.upstream, path)
            if status == 404:  # gone upstream, nothing says what ran: it keeps its bound
                answer: Any = {"id": charge.object_id, "status": "vanished"}
            else:
                answer = json_object(raw) if raw else None
            if isinstance(answer, dict) and answer.get("status") in {
                *deferral.terminal,
                "vanished",
            }:
                await self._bill(charge, deferral, answer)
        return self.billed - billed

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="deferred-charges")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._round_s)
            try:
                await self.check_due()
            except Exception:
                log.exception("checking calls still running upstream failed; next round retries")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
