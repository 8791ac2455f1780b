"""A tiny OTLP/HTTP traces sink for the ``gateway+otel`` benchmark target.

Answers ``POST /v1/traces`` with 200 and an empty body (an empty protobuf
``ExportTraceServiceResponse``: the exporter counts the batch as delivered) and counts what
it received: requests (span batches), body bytes, and spans (the body decoded as an
``ExportTraceServiceRequest``, when ``opentelemetry-proto`` is importable). ``GET /stats``
returns the counts as JSON, ``GET /healthz`` answers 200. Runs in its own process, so its
CPU is not charged to the gateway. Run with::

    python bench/otlp_sink.py --port 4318
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
import zlib
from typing import Any

from aiohttp import web

try:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
except ImportError:  # counts requests and bytes only
    ExportTraceServiceRequest = None  # type: ignore[assignment,misc]


class Counts:
    def __init__(self) -> None:
        self.requests = 0  # POST /v1/traces, i.e. span batches
        self.bytes = 0  # request bodies as received (compressed, if they were)
        self.spans: int | None = 0 if ExportTraceServiceRequest is not None else None
        self.decode_errors = 0
        self.first_at: float | None = None
        self.last_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "bytes": self.bytes,
            "spans": self.spans,
            "decode_errors": self.decode_errors,
            "first_at": self.first_at,
            "last_at": self.last_at,
        }


COUNTS = Counts()


def _decompress(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


async def traces(request: web.Request) -> web.Response:
    body = await request.read()
    now = time.time()
    COUNTS.requests += 1
    COUNTS.bytes += len(body)
    COUNTS.first_at = COUNTS.first_at or now
    COUNTS.last_at = now
    if ExportTraceServiceRequest is not None and COUNTS.spans is not None:
        try:
            raw = _decompress(body, request.headers.get("Content-Encoding", "").lower())
            message = ExportTraceServiceRequest.FromString(raw)
            COUNTS.spans += sum(
                len(scope.spans) for rs in message.resource_spans for scope in rs.scope_spans
            )
        except Exception:  # a body we cannot read still counts as a batch
            COUNTS.decode_errors += 1
    return web.Response(status=200, body=b"", content_type="application/x-protobuf")


async def stats(_: web.Request) -> web.Response:
    return web.json_response(COUNTS.as_dict())


async def healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _report(_: web.Application) -> None:
    print(f"otlp-sink: received {json.dumps(COUNTS.as_dict())}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="OTLP/HTTP traces sink that counts batches")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    app = web.Application(client_max_size=64 * 2**20)
    app.router.add_post("/v1/traces", traces)
    app.router.add_get("/stats", stats)
    app.router.add_get("/healthz", healthz)
    app.on_shutdown.append(_report)
    print(f"otlp-sink: listening on {args.host}:{args.port}", flush=True)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    sys.exit(main())
