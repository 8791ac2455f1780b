"""A day of a vector store's storage as a metered call: admitted, then settled as a ledger row.

It goes through the same `Meter` as every upstream call, so the row, the
tenant's budget counters and the spend metrics agree with the rest of the
ledger. The unit is a megabyte-day (``vector_store_mb_day`` in ``tools:`` of
the price table), the bytes rounded up to whole megabytes.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace
from datetime import date

from gateway.auth.callers import Caller
from gateway.auth.principal import Principal
from gateway.config.runtime import Model, Policy, RuntimeConfig
from gateway.metering.outcome import Measured
from gateway.metering.usage import Usage
from gateway.pipeline.context import RequestContext
from gateway.pipeline.meter import Call, Meter

FEE = "vector_store_mb_day"
ENDPOINT = "vector_stores.storage"
BYTES_PER_UNIT = 1_000_000
_REQUEST_ID_MAX = 64  # the ledger's request_id column


def units_of(usage_bytes: int) -> int:
    return math.ceil(usage_bytes / BYTES_PER_UNIT)


def charge_id(store_id: str, day: date) -> str:
    """The ledger row's request id: the same for a store and day on every replica, so the
    ledger's (request_id, attempt) key also keeps a repeated charge to one row."""
    prefix = f"storage-{day:%Y%m%d}-"
    if len(prefix) + len(store_id) <= _REQUEST_ID_MAX:
        return prefix + store_id
    return prefix + hashlib.sha256(store_id.encode()).hexdigest()[: _REQUEST_ID_MAX - len(prefix)]


def storage_policy(config: RuntimeConfig, tenant: str) -> Policy:
    """The policy a tenant's storage is counted under: its own, or the defaults.

    Storage accrues upstream whether or not the tenant is still configured or
    enabled, so it is charged either way (an unknown tenant without defaults gets
    no budgets). It is not a request the tenant made: request rate and
    concurrency limits do not apply, only budgets (counted, never refused).
    """
    policy = config.policy_for(tenant) or Policy(enabled=True, allowed_models=frozenset())
    return replace(policy, rpm=None, tpm=None, concurrent=None)


async def admit(
    meter: Meter, config: RuntimeConfig, tenant: str, store_id: str, day: date, units: int
) -> Call:
    """Reserve the day's cost (forced: the storage is already used)."""
    ctx = RequestContext.start(
        "GET", f"/v1/vector_stores/{store_id}", ENDPOINT, request_id=charge_id(store_id, day)
    )
    ctx.tenant, ctx.model = tenant, FEE
    model = Model(name=FEE, upstream=next(iter(config.upstreams)), upstream_model=FEE)
    caller = Caller(Principal(tenant, None, False, 0.0), storage_policy(config, tenant))
    bound = units * config.pricing.tools.get(FEE, 0)
    return await meter.admit(ctx, caller, config, model, bound=bound, tokens=0, force=True)


def settle(call: Call, store_id: str, units: int) -> int:
    """Write the ledger row (priced from ``tools:``; unpriced if the fee has no price)."""
    usage = Usage(tool_calls={FEE: units})
    return call.settle(Measured(usage, None, None, store_id, "completed", False), 200)
