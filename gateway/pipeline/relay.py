"""Carry an upstream answer back to the client: whole for JSON, chunk by chunk for SSE.

Streams are forwarded as they arrive (each chunk is tapped, then sent
untouched — or, when the gateway asked for a usage chunk the client did not,
minus that one event). A client that leaves mid-stream closes the upstream
response (noticed within ``WATCH_AFTER_S``); an upstream that fails mid-stream
gets an error event in the API's own dialect, because once a 200 has gone out
that is the only way left to say so. What happened is written into an :class:`Outcome` for metering.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.api.asgi import Headers, Receive, Send
from gateway.errors import GatewayError, InternalError, UpstreamError
from gateway.errors.wire import json_body
from gateway.metering.outcome import Outcome
from gateway.pipeline.context import RequestContext
from gateway.shapes.endpoint import Endpoint, Tap
from gateway.shapes.sse import json_object
from gateway.upstream import UpstreamResponse, client_response_headers
from gateway.upstream.errors import client_error_from_upstream

OnResponseId = Callable[[str], None]
log = logging.getLogger(__name__)
WATCH_AFTER_S = 0.2  # how late a client that left mid-stream may be noticed
_RELAY_FAILED = InternalError(
    "The gateway failed while relaying the stream.", code="internal_error"
)


@dataclass(slots=True)
class Answer:
    """A whole upstream answer, read before the gateway decides what the client gets."""

    status: int
    headers: Headers
    body: bytes
    content_type: bytes = b"application/json"
    chunks: list[bytes] | None = None  # a buffered stream, delivered as it came


async def read_answer(
    ctx: RequestContext,
    outcome: Outcome,
    resp: UpstreamResponse,
    *,
    api_key: str | None,
    upstream: str,
    rate_limits: bool = False,
) -> Answer:
    """Read a non-stream answer (or an error) whole, noting what metering needs."""
    outcome.status = resp.status
    headers = client_response_headers(resp.headers, rate_limits=rate_limits)
    body = await resp.read()
    ctx.upstream_s = time.perf_counter() - ctx.started
    if resp.status >= 400:
        status, body = client_error_from_upstream(resp.status, body, api_key, upstream)
        outcome.error_code = "upstream_error"
        return Answer(status, [h for h in headers if h[0] != b"content-type"], body)
    outcome.body = json_object(body)
    content_type = resp.headers.get("content-type", "application/json")
    if outcome.body is None and content_type.startswith("application/json"):
        # A broken answer is the upstream's fault: a clean 502, not a 200 no client can parse.
        outcome.error_code = "upstream_invalid_response"
        body = json_body(
            UpstreamError(
                "The upstream answered with a body that is not a JSON object.",
                code="upstream_invalid_response",
            )
        )
        return Answer(502, [h for h in headers if h[0] != b"content-type"], body)
    return Answer(resp.status, [h for h in headers if h[0] != b"content-type"], body,
                  content_type.encode())  # fmt: skip


async def buffer_stream(
    ctx: RequestContext,
    outcome: Outcome,
    resp: UpstreamResponse,
    endpoint: Endpoint,
    strip_usage: bool,
    rate_limits: bool = False,
) -> Answer:
    """Read a whole stream (routes that check quality before the client sees anything)."""
    outcome.status = resp.status
    tap = _tap(endpoint, strip_usage)
    outcome.facts = tap.facts
    chunks = []
    async for chunk in resp.chunks():
        if ctx.ttft_s is None:
            ctx.ttft_s = time.perf_counter() - ctx.started
        if strip_usage or tap.strip_usage:  # a tap that rewrites (a bridge's) always filters
            out = tap.filter(chunk)
        else:
            tap.feed(chunk)
            out = chunk
        if out:
            chunks.append(out)
    ctx.upstream_s = time.perf_counter() - ctx.started
    passed = client_response_headers(resp.headers, rate_limits=rate_limits)
    headers = [h for h in passed if h[0] != b"content-type"]
    return Answer(resp.status, headers, b"", b"text/event-stream", chunks)


async def deliver(
    ctx: RequestContext,
    answer: Answer,
    send: Send,
    headers: Headers,
    on_response_id: OnResponseId | None = None,
    response_id: str | None = None,
) -> None:
    """Send a read answer to the client."""
    ctx.status = answer.status
    if answer.status >= 400:
        ctx.error_code = ctx.error_code or "upstream_error"
    if response_id is not None:
        ctx.response_id = response_id
        if on_response_id is not None and answer.status < 400:
            on_response_id(response_id)
    all_headers = [(b"content-type", answer.content_type), *headers, *answer.headers]
    if answer.chunks is None:
        all_headers.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": all_headers})
        await send({"type": "http.response.body", "body": answer.body})
        return
    await send({"type": "http.response.start", "status": answer.status, "headers": all_headers})
    for chunk in answer.chunks:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def relay(
    ctx: RequestContext,
    outcome: Outcome,
    resp: UpstreamResponse,
    send: Send,
    receive: Receive,
    *,
    endpoint: Endpoint,
    api_key: str | None,
    upstream: str,
    headers: Headers,
) -> None:
    """Forward an unmetered answer as it comes: streams chunk by chunk, the rest whole."""
    if resp.status < 400 and resp.content_type == "text/event-stream":
        headers = headers + client_response_headers(resp.headers)
        await relay_stream(ctx, outcome, resp, send, receive, endpoint, headers, None, False)
        return
    answer = await read_answer(ctx, outcome, resp, api_key=api_key, upstream=upstream)
    rid = outcome.body.get("id") if outcome.body else None
    await deliver(ctx, answer, send, headers, None, rid if isinstance(rid, str) else None)


def is_bytes_answer(resp: UpstreamResponse) -> bool:
    """A successful answer that is neither JSON nor events (audio, a file's content)."""
    kind = resp.content_type
    return resp.status < 400 and kind not in ("application/json", "text/event-stream")


async def relay_bytes(
    ctx: RequestContext,
    outcome: Outcome,
    resp: UpstreamResponse,
    send: Send,
    receive: Receive,
    headers: Headers,
    rate_limits: bool = False,
) -> None:
    """Pass a byte answer through as it arrives: a 512 MB file is never held whole.

    Nothing in it is metered (a speech call is priced by its request); a failure
    midway can only end the body early, as the client would see from any server;
    a client that leaves closes the upstream response (`ClientWatch`).
    """
    ctx.status = outcome.status = resp.status
    # The upstream's content-type (and its rate limits when the tenant shows none).
    out = [*headers, *client_response_headers(resp.headers, rate_limits=rate_limits)]
    length = resp.headers.get("content-length")
    if length is not None:
        out.append((b"content-length", length.encode("latin-1")))
    await send({"type": "http.response.start", "status": resp.status, "headers": out})
    watch = ClientWatch(receive, resp)
    try:
        async for chunk in resp.chunks():
            if ctx.ttft_s is None:
                ctx.ttft_s = time.perf_counter() - ctx.started
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except GatewayError as err:
        if not watch.gone:
            ctx.error_code = outcome.error_code = err.code
            log.warning("byte answer cut midway: %s", err.code)
    finally:
        watch.stop()
        ctx.client_gone = outcome.client_gone = watch.gone
        ctx.upstream_s = time.perf_counter() - ctx.started
        resp.release()
    if not watch.gone:
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class ClientWatch:
    """Closes the upstream response when the client leaves, which wakes a pending read
    at once instead of at the next upstream byte.

    Most answers end before a watcher would be worth its task: one is started only
    for an answer still running after ``WATCH_AFTER_S`` (a timer costs far less).
    """

    __slots__ = ("_receive", "_resp", "_task", "_timer", "gone")

    def __init__(self, receive: Receive, resp: UpstreamResponse) -> None:
        self._receive, self._resp = receive, resp
        self._task: asyncio.Task[None] | None = None
        self.gone = False
        self._timer = asyncio.get_running_loop().call_later(WATCH_AFTER_S, self._start)

    def _start(self) -> None:
        self._task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        self._resp.close()

    def stop(self) -> None:
        self._timer.cancel()
        if self._task is not None:
            self._task.cancel()


async def relay_stream(
    ctx: RequestContext,
    outcome: Outcome,
    resp: UpstreamResponse,
    send: Send,
    receive: Receive,
    endpoint: Endpoint,
    headers: Headers,
    on_response_id: OnResponseId | None,
    strip_usage: bool,
) -> None:
    try:
        tap = _tap(endpoint, strip_usage)
    except GatewayError:
        resp.release()
        raise
    ctx.status = outcome.status = resp.status
    await send({"type": "http.response.start", "status": resp.status, "headers": headers})
    facts = outcome.facts = tap.facts
    tapped = tap.filter if strip_usage or tap.strip_usage else tap.feed  # a bridge's: always
    watch = ClientWatch(receive, resp)
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
        if facts.terminal is None and facts.error is None and not watch.gone:
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
        watch.stop()
        gone = ctx.client_gone = outcome.client_gone = watch.gone
        ctx.upstream_s = time.perf_counter() - ctx.started
        outcome.ttft_s = ctx.ttft_s
        resp.release()
    if gone:
        return
    if failure is not None:
        ctx.error_code = outcome.error_code = failure.code
        error_event = _stream_error(endpoint, failure)
        await send({"type": "http.response.body", "body": error_event, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def _tap(endpoint: Endpoint, strip_usage: bool) -> Tap:
    if endpoint.new_tap is None:
        raise UpstreamError(
            f"The upstream streamed an answer {endpoint.name} does not stream.",
            code="upstream_bad_response",
        )
    return endpoint.new_tap(strip_usage)


def _stream_error(endpoint: Endpoint, failure: GatewayError) -> bytes:
    assert endpoint.stream_error is not None  # a stream started: the endpoint has a tap
    return endpoint.stream_error(failure)
