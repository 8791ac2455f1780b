"""One structured JSON line per request: who, what, how it went. Never content or credentials."""

from __future__ import annotations

import logging
import time

import orjson

from gateway.batching import BatchWriter
from gateway.pipeline.context import RequestContext

log = logging.getLogger("gateway.access")


class AccessLog:
    """One JSON line per request, written in batches: ``logging`` per line cost ~10 µs."""

    def __init__(self, *, flush_interval_s: float = 0.1) -> None:
        self._writer: BatchWriter[str] = BatchWriter(
            self._emit, name="access-log", flush_interval_s=flush_interval_s, in_loop=True
        )

    def write(self, ctx: RequestContext) -> None:
        if log.isEnabledFor(logging.INFO):
            self._writer.add(access_line(ctx))

    @staticmethod
    def _emit(lines: list[str]) -> None:
        log.info("\n".join(lines))

    async def start(self) -> None:
        await self._writer.start()

    async def aclose(self) -> None:
        await self._writer.aclose()


def access_line(ctx: RequestContext) -> str:
    record = {
        "request_id": ctx.request_id,
        "upstream_request_id": ctx.upstream_request_id,
        "method": ctx.method,
        "path": ctx.path,
        "endpoint": ctx.endpoint,
        "tenant": ctx.tenant,
        "subject": ctx.subject,
        "model": ctx.model,
        "served_model": ctx.served_model,
        "route": ctx.route,
        "attempts": ctx.attempts,
        "escalations": list(ctx.escalations) or None,
        "stream": ctx.stream,
        "status": ctx.status,
        "error_code": ctx.error_code,
        "duration_ms": round((time.perf_counter() - ctx.started) * 1000, 3),
        "upstream_ms": round(ctx.upstream_s * 1000, 3) if ctx.upstream_s is not None else None,
        "response_id": ctx.response_id,
        "input_tokens": ctx.input_tokens,
        "output_tokens": ctx.output_tokens,
        "cost_usd": ctx.cost_nanos / 1e9 if ctx.cost_nanos is not None else None,
        "ttft_ms": round(ctx.ttft_s * 1000, 3) if ctx.ttft_s is not None else None,
        "client_gone": ctx.client_gone,
        "truncated_by_cap": ctx.truncated_by_cap,
    }
    return orjson.dumps(record).decode()
