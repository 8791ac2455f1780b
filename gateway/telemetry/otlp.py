"""OTLP/HTTP export of finished spans: protobuf written directly, sent from the event loop.

The OpenTelemetry SDK builds a protobuf message object per attribute and per
span in Python, and exports from a thread that competes with the loop for the
GIL: ~65 µs per request's two spans on the bench machine. Here a span is
written as the wire bytes of OTLP's ``ExportTraceServiceRequest`` (the
fields below are its field numbers), reusing the bytes of attribute pairs
that repeat from call to call (model, tenant, endpoint, ...), and batches go
out from one task on the gateway's own loop with its aiohttp.

Configured by the standard variables: ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
(or ``OTEL_EXPORTER_OTLP_ENDPOINT`` + ``/v1/traces``), ``…_HEADERS``,
``…_TIMEOUT`` (ms), ``…_COMPRESSION`` (``gzip``), ``OTEL_BSP_SCHEDULE_DELAY``
(ms), ``OTEL_BSP_MAX_QUEUE_SIZE``, ``OTEL_BSP_MAX_EXPORT_BATCH_SIZE``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import struct
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

import aiohttp

if TYPE_CHECKING:
    from gateway.telemetry.tracing import Span

log = logging.getLogger(__name__)

AttributeValue = str | bool | int | float
_PACK_Q = struct.Struct("<Q").pack
_PACK_D = struct.Struct("<d").pack
_CACHE_MAX = 4096  # attribute pairs kept as bytes (bounded: values repeat, ids do not)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _any_value(value: AttributeValue) -> bytes:
    if isinstance(value, str):
        return _field(1, value.encode())
    if isinstance(value, bool):
        return b"\x10" + (b"\x01" if value else b"\x00")  # 2: bool_value
    if isinstance(value, int):
        return b"\x18" + _varint(value & 0xFFFF_FFFF_FFFF_FFFF)  # 3: int_value (two's complement)
    return b"\x21" + _PACK_D(value)  # 4: double_value


class _Encoder:
    """Spans as the bytes of an ``ExportTraceServiceRequest``."""

    def __init__(self, resource: Mapping[str, AttributeValue], scope: str) -> None:
        self._pairs: dict[tuple[str, type, AttributeValue], bytes] = {}
        resource_bytes = b"".join(_field(1, self._pair(k, v)) for k, v in resource.items())
        self._resource = _field(1, resource_bytes)  # ResourceSpans.resource
        self._scope = _field(1, _field(1, scope.encode()))  # ScopeSpans.scope.name

    def _pair(self, key: str, value: AttributeValue) -> bytes:
        """A KeyValue; repeated ones (model, tenant, ...) come from the cache."""
        cacheable = not isinstance(value, float)
        ident = (key, type(value), value)  # True and 1 are equal keys otherwise
        if cacheable:
            cached = self._pairs.get(ident)
            if cached is not None:
                return cached
        encoded = _field(1, key.encode()) + _field(2, _any_value(value))
        if cacheable and len(self._pairs) < _CACHE_MAX:
            self._pairs[ident] = encoded
        return encoded

    def span(self, span: Span) -> bytes:
        parts = [
            _field(1, span.trace_id.to_bytes(16, "big")),
            _field(2, span.span_id.to_bytes(8, "big")),
        ]
        if span.trace_state:
            parts.append(_field(3, span.trace_state.encode()))
        if span.parent_id:
            parts.append(_field(4, span.parent_id.to_bytes(8, "big")))
        parts += [
            _field(5, span.name.encode()),
            b"\x30" + _varint(span.kind),  # 6: kind
            b"\x39" + _PACK_Q(span.start_ns),  # 7: start_time_unix_nano (fixed64)
            b"\x41" + _PACK_Q(span.end_ns),  # 8: end_time_unix_nano (fixed64)
        ]
        parts += [_field(9, self._pair(k, v)) for k, v in span.attributes.items()]
        return b"".join(parts)

    def request(self, spans: Iterable[Span]) -> bytes:
        scope_spans = _field(2, self._scope + b"".join(_field(2, self.span(s)) for s in spans))
        return _field(1, self._resource + scope_spans)


@dataclass(frozen=True, slots=True)
class ExportConfig:
    endpoint: str
    headers: dict[str, str]
    timeout_s: float = 10.0
    gzip: bool = False
    schedule_delay_s: float = 5.0
    max_queue: int = 2048
    max_batch: int = 512

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ExportConfig:
        def pick(name: str) -> str | None:
            return env.get(f"OTEL_EXPORTER_OTLP_TRACES_{name}") or env.get(
                f"OTEL_EXPORTER_OTLP_{name}"
            )

        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        if not endpoint:
            base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318")
            endpoint = base.rstrip("/") + "/v1/traces"
        headers = {}
        for item in (pick("HEADERS") or "").split(","):
            name, sep, value = item.partition("=")
            if sep and name.strip():
                headers[unquote(name.strip()).lower()] = unquote(value.strip())
        return cls(
            endpoint=endpoint,
            headers=headers,
            timeout_s=float(pick("TIMEOUT") or 10_000) / 1000,
            gzip=(pick("COMPRESSION") or "").lower() == "gzip",
            schedule_delay_s=float(env.get("OTEL_BSP_SCHEDULE_DELAY") or 5000) / 1000,
            max_queue=int(env.get("OTEL_BSP_MAX_QUEUE_SIZE") or 2048),
            max_batch=int(env.get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") or 512),
        )


class OtlpExporter:
    """Queues finished spans; one task on the loop sends them in batches.

    A full queue drops the span (counted, and logged once per drop run) rather
    than holding the request path; a failed batch is retried once, then dropped.
    """

    def __init__(self, config: ExportConfig, resource: Mapping[str, AttributeValue]) -> None:
        self._config = config
        self._encoder = _Encoder(resource, "gateway")
        self._queue: deque[Span] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self.dropped = 0  # spans dropped since start
        self._dropping = False  # logged once per run of drops

    def encode(self, spans: Iterable[Span]) -> bytes:
        """The spans as the body of one ``POST /v1/traces``."""
        return self._encoder.request(spans)

    def add(self, span: Span) -> None:
        queue = self._queue
        if len(queue) >= self._config.max_queue:
            if not self._dropping:
                self._dropping = True
                log.warning("span queue full (%d): dropping spans", len(queue))
            self.dropped += 1
            return
        queue.append(span)
        if len(queue) == self._config.max_batch:
            self._wake.set()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._config.timeout_s)
        )
        self._task = asyncio.create_task(self._run(), name="otlp-export")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
        if self._session is not None:
            await self._session.close()

    async def flush(self) -> None:
        while self._queue:
            await self._send_batch()

    async def _run(self) -> None:
        """Full batches as soon as they are full; what is left, every schedule delay."""
        config, queue = self._config, self._queue
        while True:
            timed_out = False
            try:
                async with asyncio.timeout(config.schedule_delay_s):
                    await self._wake.wait()
            except TimeoutError:
                timed_out = True
            self._wake.clear()
            due = len(queue) if timed_out else 0  # spans queued before this tick
            while len(queue) >= config.max_batch or due > 0:
                due -= min(config.max_batch, len(queue))
                await self._send_batch()

    async def _send_batch(self) -> None:
        queue, most = self._queue, self._config.max_batch
        batch = [queue.popleft() for _ in range(min(most, len(queue)))]
        body = self.encode(batch)
        for attempt in (1, 2):
            if await self._post(body):
                self._dropping = False
                return
            if attempt == 1:
                await asyncio.sleep(1.0)
        log.warning("OTLP export to %s failed twice: %d spans dropped", self._config.endpoint,
                    len(batch))  # fmt: skip

    async def _post(self, body: bytes) -> bool:
        config, session = self._config, self._session
        assert session is not None, "OtlpExporter.start() was not called"
        headers = {**config.headers, "content-type": "application/x-protobuf"}
        if config.gzip:
            body = gzip.compress(body)
            headers["content-encoding"] = "gzip"
        try:
            async with session.post(config.endpoint, data=body, headers=headers) as resp:
                await resp.read()
                return resp.status < 300
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.debug("OTLP export failed: %s", exc)
            return False
