"""The pipeline's dependencies in one object, and its steps as methods (see the package doc)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gateway.errors import GatewayError, NotFound, UpstreamError
from gateway.ownership import OwnershipStore
from gateway.pipeline.context import RequestContext
from gateway.pipeline.http import Downstream, serve
from gateway.pipeline.meter import Call, Meter
from gateway.pipeline.prepare import AttemptRequest, Prepared
from gateway.shapes.refs import ITEM, output_item_ids
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.tracing import Tracing
from gateway.upstream import UpstreamPool

if TYPE_CHECKING:
    from gateway.cache.respond import ResponseCache
    from gateway.deferred.charges import DeferredCharges
    from gateway.shadow.run import Shadows


class Pipeline:
    """What the pipeline's steps run on; built once by `gateway.services.Services`."""

    def __init__(
        self,
        meter: Meter,
        pool: UpstreamPool,
        ownership: OwnershipStore,
        metrics: Metrics,
        tracing: Tracing,
    ) -> None:
        self.meter = meter
        self.pool = pool
        self.ownership = ownership
        self.metrics = metrics
        self.tracing = tracing
        self.deferred: DeferredCharges | None = None  # set by Services: it needs the pipeline's
        self.cache: ResponseCache | None = None  # set by Services
        self.shadows: Shadows | None = None  # set by Services

    async def serve(self, down: Downstream, prepared: Prepared) -> None:
        """Attempts over HTTP until one answer (JSON or a stream) has gone to the client; a
        sampled call of a shadowed route is copied to its candidate afterwards."""
        shadows = self.shadows if prepared.plan.shadow is not None else None
        sampled = shadows.pick(down, prepared) if shadows is not None else None
        if shadows is None or sampled is None:
            return await self._serve(down, prepared)
        try:
            await self._serve(sampled.recording, prepared)
        except GatewayError as failed:
            shadows.after(sampled, prepared, failed.status)
            raise
        shadows.after(sampled, prepared)

    async def _serve(self, down: Downstream, prepared: Prepared) -> None:
        if self.cache is not None:  # it may answer, or serve and keep the answer
            return await self.cache.serve(self, down, prepared, serve)
        await serve(self, down, prepared)

    async def fetch(self, upstream: str, path: str) -> bytes:
        """A stored object's bytes (a batch's input file), or the upstream's refusal."""
        status, body = await self.pool.get(upstream).fetch(path)
        if status == 404:
            raise NotFound(f"The upstream has nothing at {path}.", code="not_found")
        if status != 200:
            raise UpstreamError(
                f"The upstream {upstream!r} answered HTTP {status} when the gateway read {path}.",
                code="upstream_error",
            )
        return body

    def own_items(self, tenant: str, answer: Mapping[str, Any] | None) -> None:
        """The items a response showed its tenant are the tenant's (``item_reference``)."""
        self.ownership.record_all(output_item_ids(answer), tenant, ITEM.name)

    async def admit(
        self, ctx: RequestContext, prepared: Prepared, request: AttemptRequest, attempt: int = 1
    ) -> Call:
        """Reserve one attempt's bound: an HTTP `Attempt`'s, or a socket's call (its session
        settles it)."""
        return await self.meter.admit(
            ctx,
            prepared.caller,
            prepared.config,
            request.model,
            bound=request.bound,
            tokens=request.tokens,
            attempt=attempt,
        )
