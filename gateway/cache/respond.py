"""Answer a request from the cache, or serve it and keep its answer (`ResponseCache.serve`).

A hit is still a metered call of the one pipeline: the tenant's policy for the
model is applied (a request it refuses is refused, cached or not), admission
counts it against the rate limits (RPM and concurrency; no tokens, a $0
bound), and it settles as a $0 ledger row whose outcome is ``cache_hit``.
Nothing goes upstream. The answer is the stored JSON body, or the stored
event stream replayed, with ``x-gateway-cache: hit``; an eligible request that
was not found is served as usual with ``x-gateway-cache: miss``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from gateway.api.asgi import header
from gateway.cache.key import cache_key, refusal
from gateway.cache.recording import Recording
from gateway.cache.store import Entry, Store, make_store
from gateway.config.cache import OPT_IN_HEADER
from gateway.metering.outcome import Measured
from gateway.metering.usage import Usage
from gateway.pipeline.http import Downstream, Trail
from gateway.pipeline.prepare import Prepared, for_model
from gateway.telemetry.labels import tenant_label
from gateway.telemetry.metrics import Metrics

if TYPE_CHECKING:
    from gateway.pipeline.core import Pipeline

CACHE_HIT = "cache_hit"  # the ledger outcome of an answer replayed from the cache
HEADER = OPT_IN_HEADER  # the same name answers: hit or miss
Serve = Callable[["Pipeline", Downstream, Prepared], Awaitable[None]]


class ResponseCache:
    def __init__(self, store: Store, metrics: Metrics, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock  # unix time; tests move it to expire entries
        self._metrics = metrics
        metrics.cache_bytes.set_function(lambda: store.held_bytes)
        # Misses being served now, per (tenant, key): their twins wait for them.
        self._flights: dict[tuple[str, str], asyncio.Future[None]] = {}

    async def serve(
        self, pipeline: Pipeline, down: Downstream, prepared: Prepared, serve: Serve
    ) -> None:
        """``serve`` the request, unless its tenant's cache answers it; keep what it got.

        A non-streaming miss whose twin (same tenant and key) is already being served on
        this replica waits for it and is answered from what it kept: N identical calls at
        once make one upstream call, not N. A stream does not wait (its client would get no
        first byte until the twin ended); nor does a call whose twin's answer was not kept.
        """
        key = self.key_of(down, prepared)
        if key is None:
            return await serve(pipeline, down, prepared)
        tenant, stream = prepared.caller.tenant, prepared.request.stream
        label = tenant_label(prepared.config, tenant)
        entry = await self.store.get(tenant, key, self.clock())
        if entry is None and not stream and (flight := self._flights.get((tenant, key))):
            await asyncio.shield(flight)  # the twin's client leaving does not end it
            entry = await self.store.get(tenant, key, self.clock())
            if entry is not None:
                self._metrics.cache_requests(label, "coalesced").inc()
                return await replay(pipeline, down, prepared, entry)
        if entry is not None:
            self._metrics.cache_requests(label, "hit").inc()
            return await replay(pipeline, down, prepared, entry)
        self._metrics.cache_requests(label, "miss").inc()
        down.headers.append((HEADER, b"miss"))
        if stream or (tenant, key) in self._flights:
            return await self._serve_and_keep(pipeline, down, prepared, serve, key)
        flight = self._flights[(tenant, key)] = asyncio.get_running_loop().create_future()
        try:
            await self._serve_and_keep(pipeline, down, prepared, serve, key)
        finally:
            del self._flights[(tenant, key)]
            flight.set_result(None)

    async def _serve_and_keep(
        self, pipeline: Pipeline, down: Downstream, prepared: Prepared, serve: Serve, key: str
    ) -> None:
        tenant, policy = prepared.caller.tenant, prepared.caller.policy.cache
        recording = Recording(down, policy.max_entry_bytes)
        await serve(pipeline, recording, prepared)
        stream = prepared.request.stream
        body = recording.kept(prepared.endpoint, stream)
        if body is None:
            return
        expires_at = self.clock() + policy.ttl_s
        entry = Entry(stream, down.ctx.served_model, body, expires_at)
        await self.store.put(tenant, key, entry, policy.ttl_s)
        label = tenant_label(prepared.config, tenant)
        self._metrics.cache_stored_bytes(label).inc(len(body))

    def key_of(self, down: Downstream, prepared: Prepared) -> str | None:
        """The request's key, if its tenant caches it and it may be cached."""
        policy = prepared.caller.policy
        mode = policy.cache.mode
        if mode == "off":
            return None
        asked = (header(down.scope, HEADER) or b"").strip().lower()
        if (asked != b"use") if mode == "opt_in" else (asked == b"skip"):
            return None
        endpoint = prepared.endpoint.name
        if refusal(endpoint, prepared.body, policy.store is False) is not None:
            return None
        return cache_key(prepared.caller.tenant, endpoint, prepared.request.model, prepared.body)

    async def aclose(self) -> None:
        await self.store.aclose()


async def replay(pipeline: Pipeline, down: Downstream, prepared: Prepared, entry: Entry) -> None:
    """Answer with a kept answer: policy checked, admitted at $0, settled as a cached row."""
    ctx, model = down.ctx, prepared.plan.ladder[0]
    request = for_model(prepared, model, first=True)  # what the policy refuses stays refused
    call = await pipeline.admit(ctx, prepared, replace(request, bound=0, tokens=0))
    ctx.route, ctx.rung, ctx.served_model = prepared.plan.route, model.name, entry.served_model
    kind = b"text/event-stream" if entry.stream else b"application/json"
    trail = Trail(prepared.plan.route, attempts=0, served=entry.served_model)
    headers = [(b"content-type", kind), *down.headers, (HEADER, b"hit"), *trail.headers()]
    headers.append((b"x-request-id", ctx.request_id.encode()))  # no upstream id: the gateway's
    headers += [(k.encode(), v.encode()) for k, v in call.ticket.headers.items()]
    if not entry.stream:
        headers.append((b"content-length", str(len(entry.body)).encode()))
    status = 0
    try:
        await down.send({"type": "http.response.start", "status": 200, "headers": headers})
        await down.send({"type": "http.response.body", "body": entry.body})
        ctx.status = status = 200
    finally:
        measured = Measured(Usage(), entry.served_model, None, None, CACHE_HIT, False)
        call.settle(measured, status)


def make_cache(
    redis_url: str | None, max_bytes: Callable[[], int], metrics: Metrics
) -> ResponseCache:
    return ResponseCache(make_store(redis_url, max_bytes), metrics)
