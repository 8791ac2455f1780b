"""Carry an upstream answer back to the client: whole for JSON, chunk by chunk for SSE.

Streams are forwarded as they arrive (each chunk is tapped, then sent
untouched — or, when the gateway asked for a usage chunk the client did not,
minus that one event). A client that leaves mid-stream closes the upstream
response at once; an upstream that fails mid-stream gets an error event in
the API's own dialect, because once a 200 has gone out that is the only way
left to say so. What happened is written into an :class:`Outcome` for metering.
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
from gateway.metering.outcome import Outcome
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
    outcome: Outcome,
    resp: UpstreamResponse,
    send: Any,
    receive: Any,
    *,
    shape: Shape,
    api_key: str | None,
    upstream: str,
    headers: Headers,
    on_response_id: OnResponseId | None = None,
    strip_usage: bool = False,
) -> None:
    outcome.status = resp.status
    headers = headers + client_response_headers(resp.headers)
    if resp.status >= 400:
        body = await resp.read()
        ctx.upstream_s = time.perf_counter() - ctx.started
        status, body = client_error_from_upstream(resp.status, body, api_key, upstream)
        ctx.status = status
        ctx.error_code = outcome.error_code = "upstream_error"
        await send_response(send, status, body, [h for h in headers if h[0] != b"content-type"])
    elif resp.content_type == "text/event-stream":
        await _relay_stream(
            ctx, outcome, resp, send, receive, shape, headers, on_response_id, strip_usage
        )
    else:
        body = await resp.read()
        ctx.upstream_s = time.perf_counter() - ctx.started
        ctx.status = resp.status
        outcome.body = _json_object(body)
        rid = outcome.body.get("id") if outcome.body else None
        if isinstance(rid, str):
            ctx.response_id = rid
            if on_response_id is not None:
                on_response_id(rid)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": resp.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


async def _wait_for_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _relay_stream(
    ctx: RequestContext,
    outcome: Outcome,
    resp: UpstreamResponse,
    send: Any,
    receive: Any,
    shape: Shape,
    headers: Headers,
    on_response_id: OnResponseId | None,
    strip_usage: bool,
) -> None:
    ctx.status = resp.status
    await send({"type": "http.response.start", "status": resp.status, "headers": headers})
    tap = shape.new_tap(strip_usage)
    facts = outcome.facts = tap.facts
    tapped = tap.filter if strip_usage else tap.feed
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
            if ctx.ttft_s is None:
                ctx.ttft_s = time.perf_counter() - ctx.started
            out = tapped(chunk)
            if ctx.response_id is None and facts.response_id is not None:
                ctx.response_id = facts.response_id
                if on_response_id is not None:
                    on_response_id(facts.response_id)
            if out is None:
                out = chunk
            if out:
                await send({"type": "http.response.body", "body": out, "more_body": True})
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
        ctx.client_gone = outcome.client_gone = gone
        ctx.upstream_s = time.perf_counter() - ctx.started
        outcome.ttft_s = ctx.ttft_s
        resp.release()
    if gone:
        return
    if failure is not None:
        ctx.error_code = outcome.error_code = failure.code
        error_event = shape.stream_error(failure)
        await send({"type": "http.response.body", "body": error_event, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
