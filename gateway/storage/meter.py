"""The storage meter: once a day, each vector store's storage becomes one ledger row per store.

Vector stores are billed upstream per GB-day of ``usage_bytes``. Every run
(each replica runs one every ``interval_s``) takes the last full UTC day D
before now and, for the vector stores the ownership store knows that existed
before D ended and are not charged for D yet, asks the upstream for their size
and charges it to the owning tenant as one megabyte-day fee per started
megabyte (`gateway.storage.charge`).

Exactly once per store and day, across replicas: the `storage_charge` row for
(store, D) is inserted before the ledger row is written, and a replica whose
insert finds the row already there charges nothing. A replica that dies
between the two leaves the day uncharged (never charged twice); with the
shared quota its reservation is reclaimed and billed as an orphan instead.

What is not metered:

- OpenAI's first GB free: it is per organization, shared by every tenant behind
  the one upstream key, and cannot be split fairly between them; every byte is
  charged here.
- A deleted store's last days: once deleted through the gateway its ownership
  record is gone, so the day it was deleted on, and a day D not yet charged
  when it was deleted, are not charged.
- A day on which no replica ran: each run charges the last full day only.

The size is read when the day is charged (after D), not sampled during D: a
store filled or emptied after midnight is charged its new size for D.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial

from sqlalchemy.engine import Engine

from gateway.config.runtime import RuntimeConfig
from gateway.pipeline.meter import Call, Meter
from gateway.storage import charge, sql
from gateway.storage.poll import PollFailed, stored_bytes
from gateway.upstream import UpstreamPool

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Run:
    """What one run did, store by store (for logs and tests)."""

    day: date | None = None
    polled: int = 0
    charged: int = 0  # ledger rows written
    empty: int = 0  # 0 bytes: the day settled, no row
    gone: int = 0  # the upstream had no such store: the day settled, no row
    taken: int = 0  # another replica (or an earlier run) settled the day first
    failed: bool = False  # the upstream failed: the run stopped, the rest wait


class StorageMeter:
    def __init__(
        self,
        engine: Engine,
        config: Callable[[], RuntimeConfig],
        pool: UpstreamPool,
        meter: Meter,
        *,
        interval_s: float = 600.0,
        stores_per_run: int = 500,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``config`` is the config in force now (it hot-reloads). Each run polls at most
        ``stores_per_run`` stores; the next run carries on after the last one polled."""
        self._engine = engine
        self._config = config
        self._pool = pool
        self._meter = meter
        self._interval_s = interval_s
        self._per_run = stores_per_run
        self._clock = clock
        self._sleep = sleep
        self._cursor: tuple[date, str] | None = None  # the last store a run reached, and its day
        self._told_unpriced = False

    async def run_forever(self) -> None:
        """Run every ``interval_s`` (the first after one interval) until cancelled."""
        while True:
            await self._sleep(self._interval_s)
            try:
                await self.run_once(self._clock())
            except Exception:
                log.exception("storage metering: the run failed; the next one carries on")

    async def run_once(self, now: datetime) -> Run:
        """Charge the day that ended last before ``now`` for up to ``stores_per_run`` stores."""
        config = self._config()
        if charge.FEE not in config.pricing.tools and not config.accounting.allow_unpriced:
            if not self._told_unpriced:
                self._told_unpriced = True
                log.warning(
                    "storage metering: %r has no price in the price table (tools:): "
                    "vector-store storage is not charged",
                    charge.FEE,
                )
            return Run()
        day_ends = datetime.combine(now.astimezone(UTC).date(), time(), UTC)
        day = (day_ends - timedelta(days=1)).date()
        after = self._cursor[1] if self._cursor and self._cursor[0] == day else None
        query = partial(sql.due_stores, self._engine, day, day_ends, after, self._per_run)
        due = await asyncio.to_thread(query)
        # Fewer than a run's worth: the end of the list was reached, the next run starts over.
        self._cursor = (day, due[-1].store_id) if len(due) == self._per_run else None
        run = Run(day)
        client = self._pool.get(next(iter(config.upstreams)))
        for store in due:
            try:
                usage = await stored_bytes(client, store.store_id)
            except PollFailed as exc:
                log.warning("storage metering: stopped until the next run: %s", exc)
                self._cursor = (day, store.store_id)  # this one is retried after the others
                run.failed = True
                break
            run.polled += 1
            await self._settle_day(run, config, store, day, usage, now)
        return run

    async def _settle_day(
        self,
        run: Run,
        config: RuntimeConfig,
        store: sql.Due,
        day: date,
        usage: int | None,
        now: datetime,
    ) -> None:
        units = charge.units_of(usage or 0)
        call = None
        if units:
            call = await charge.admit(self._meter, config, store.tenant, store.store_id, day, units)
        # The insert runs to its end in its thread even if this task is cancelled
        # (shutdown): wait for it then too, so an admitted call is settled or released.
        insert = asyncio.ensure_future(
            asyncio.to_thread(sql.claim, self._engine, store, day, usage, now)
        )
        try:
            claimed = await asyncio.shield(insert)
        except asyncio.CancelledError:
            _finish(call, await _outcome(insert), store.store_id, units)
            raise
        except BaseException:
            if call is not None:
                call.release()
            raise
        _finish(call, claimed, store.store_id, units)
        if not claimed:
            run.taken += 1
        elif usage is None:
            run.gone += 1
        elif call is None:
            run.empty += 1
        else:
            run.charged += 1


async def _outcome(insert: asyncio.Future[bool]) -> bool:
    """The insert's result, False if it failed (then nothing is charged)."""
    try:
        return await insert
    except Exception:
        return False


def _finish(call: Call | None, claimed: bool, store_id: str, units: int) -> None:
    if call is None:
        return
    if claimed:
        charge.settle(call, store_id, units)
    else:
        call.release()
