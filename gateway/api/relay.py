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
from gateway.errors import GatewayError, InternalError, UpstreamError
from gateway.shapes.adapters import Shape
from gateway.telemetry.access_log import RequestContext
from gateway.upstream import UpstreamResponse, client_response_headers
from gateway.upstream.errors import client_error_from_upstream

OnResponseId = Callable[[str], None]
log = logging.getLogger(__name__)
_RELAY_FAILED = InternalError(
    "The gateway failed while relaying the stream.", code="internal_error"
)


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
    facts = tap.facts
    gone = False

    async def watch() -> None:
        # A client that leaves closes the upstream response, which wakes the
        # pending read below at once instead of at the next upstream byte.
        nonlocal gone
        await _wait_for_disconnect(receive)
        gone = True
        resp.close()

    watcher = asyncio.create_task(watch())
    failure: GatewayError | None = None
    try:
        async for chunk in resp.chunks():
            tap.feed(chunk)
            if ctx.response_id is None and facts.response_id is not None:
                ctx.response_id = facts.response_id
                if on_response_id is not None:
                    on_response_id(facts.response_id)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        if facts.terminal is None and facts.error is None and not gone:
            raise UpstreamError(
                "The upstream stream ended before the response was complete.",
                code="upstream_stream_truncated",
            )
    except GatewayError as err:
        failure = err
    except Exception:
        log.exception("stream relay failed")
        failure = _RELAY_FAILED
    finally:
        watcher.cancel()
        ctx.client_gone = gone
        ctx.upstream_s = time.perf_counter() - ctx.started
        _note_usage(ctx, facts.usage)
        resp.release()
    if gone:
        return
    if failure is not None:
        ctx.error_code = failure.code
        await send(
            {"type": "http.response.body", "body": shape.stream_error(failure), "more_body": True}
        )
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def _note_usage(ctx: RequestContext, usage: dict[str, Any] | None) -> None:
    if usage:
        ctx.input_tokens = usage.get("input_tokens", usage.get("prompt_tokens"))
        ctx.output_tokens = usage.get("output_tokens", usage.get("completion_tokens"))
