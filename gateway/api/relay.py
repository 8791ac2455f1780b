"""Carry an upstream answer back to the client: whole for JSON, chunk by chunk for SSE.

Streams are forwarded as they arrive (each chunk is tapped, then sent
untouched). A client that leaves mid-stream cancels the upstream read at
once; an upstream that fails mid-stream gets an error event in the API's own
dialect, because once a 200 has gone out that is the only way left to say so.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from gateway.api.asgi import Headers, send_response
from gateway.errors import GatewayError, UpstreamError
from gateway.shapes.adapters import Shape
from gateway.telemetry.access_log import RequestContext
from gateway.upstream import UpstreamResponse, client_response_headers
from gateway.upstream.errors import client_error_from_upstream

OnResponseId = Callable[[str], None]
log = logging.getLogger(__name__)


async def relay(
    ctx: RequestContext,
    resp: UpstreamResponse,
    send: Any,
    receive: Any,
    *,
    shape: Shape,
    api_key: str | None,
    upstream: str,
    headers: Headers,
    on_response_id: OnResponseId | None = None,
) -> None:
    headers = headers + client_response_headers(resp.headers)
    if resp.status >= 400:
        body = await resp.read()
        ctx.upstream_s = time.perf_counter() - ctx.started
        status, body = client_error_from_upstream(resp.status, body, api_key, upstream)
        ctx.status = status
        ctx.error_code = "upstream_error"
        await send_response(send, status, body, [h for h in headers if h[0] != b"content-type"])
    elif resp.content_type == "text/event-stream":
        await _relay_stream(ctx, resp, send, receive, shape, headers, on_response_id)
    else:
        body = await resp.read()
        ctx.upstream_s = time.perf_counter() - ctx.started
        ctx.status = resp.status
        if on_response_id is not None:
            _note_json_answer(ctx, body, on_response_id)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": resp.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _note_json_answer(ctx: RequestContext, body: bytes, on_response_id: OnResponseId) -> None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return
    if not isinstance(data, dict):
        return
    rid = data.get("id")
    if isinstance(rid, str):
        ctx.response_id = rid
        on_response_id(rid)
    usage = data.get("usage")
    _note_usage(ctx, usage if isinstance(usage, dict) else None)


async def _wait_for_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _relay_stream(
    ctx: RequestContext,
    resp: UpstreamResponse,
    send: Any,
    receive: Any,
    shape: Shape,
    headers: Headers,
    on_response_id: OnResponseId | None,
) -> None:
    ctx.status = resp.status
    await send({"type": "http.response.start", "status": resp.status, "headers": headers})
    tap = shape.new_tap()

    async def pump() -> None:
        recorded = False
        try:
            async for chunk in resp.chunks():
                tap.feed(chunk)
                if not recorded and tap.facts.response_id is not None:
                    recorded = True
                    ctx.response_id = tap.facts.response_id
                    if on_response_id is not None:
                        on_response_id(tap.facts.response_id)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if tap.facts.terminal is None and tap.facts.error is None:
                raise UpstreamError(
                    "The upstream stream ended before the response was complete.",
                    code="upstream_stream_truncated",
                )
        except GatewayError as err:
            ctx.error_code = err.code
            await send(
                {"type": "http.response.body", "body": shape.stream_error(err), "more_body": True}
            )

    pumping = asyncio.create_task(pump())
    watching = asyncio.create_task(_wait_for_disconnect(receive))
    try:
        await asyncio.wait((pumping, watching), return_when=asyncio.FIRST_COMPLETED)
    finally:
        ctx.client_gone = watching.done() and not pumping.done()
        for task in (pumping, watching):
            task.cancel()
        results = await asyncio.gather(pumping, watching, return_exceptions=True)
        ctx.upstream_s = time.perf_counter() - ctx.started
        _note_usage(ctx, tap.facts.usage)
        if ctx.client_gone:
            resp.close()  # stop the upstream generating for nobody
        else:
            resp.release()
    if isinstance(results[0], Exception):
        log.error("stream relay failed", exc_info=results[0])
    if not ctx.client_gone:
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _note_usage(ctx: RequestContext, usage: dict[str, Any] | None) -> None:
    if usage:
        ctx.input_tokens = usage.get("input_tokens", usage.get("prompt_tokens"))
        ctx.output_tokens = usage.get("output_tokens", usage.get("completion_tokens"))
