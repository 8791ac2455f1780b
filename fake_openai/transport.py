"""Sending an HTTP answer the way a fault wants it: whole, streamed as SSE, paced, cut midway
or stalled; and reading a JSON body with OpenAI's complaints when it is not one."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from fake_openai.faults import Fault
from fake_openai.params import check_metadata
from fake_openai.state import FakeState
from fake_openai.wire import ApiError, JsonObject, missing_parameter

START_KEY = web.RequestKey("fake_openai_start", float)
FAULT_KEY = web.RequestKey("fake_openai_fault", Fault)
BODY_TOKENS_KEY = web.RequestKey("fake_openai_body_tokens", int)


def request_fault(request: web.Request) -> Fault | None:
    """The fault this request took on arrival, if any."""
    return request.get(FAULT_KEY)


def answer_cut(request: web.Request) -> bool:
    """Whether this request's fault cuts or stalls a whole answer (see ``reply_bytes``)."""
    fault = request_fault(request)
    return fault is not None and (
        fault.drop_after_events is not None or fault.stall_after_events is not None
    )


def carried_fault(request: web.Request) -> Fault | None:
    """The fault a WebSocket upgrade took, minus what the upgrade itself already used."""
    fault = request_fault(request)
    if fault is None:
        return None
    return dataclasses.replace(fault, delay_s=0.0, headers={})


def drop(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Close the connection under ``response``, so the client sees the body end early."""
    # close() (FIN) rather than abort() (RST): bytes already written must still arrive,
    # and the client must then see the body end early. aiohttp's later attempt to write
    # to the closed transport is a ConnectionError it swallows, so no 500 goes out.
    transport = request.transport
    if transport is not None:
        transport.close()
    return response


async def read_payload(request: web.Request) -> JsonObject:
    """The JSON object in the request body, or the 400 OpenAI answers to anything else."""
    body = await request.read()
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means "
            "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
            "payload, but what was sent was not valid JSON. If you have trouble figuring "
            "out how to fix this, please contact us through our help center at "
            "help.openai.com.)",
        ) from None
    if not isinstance(payload, dict):
        raise ApiError(
            400,
            f"Invalid type for request body: expected an object, but got "
            f"{type(payload).__name__} instead.",
            code="invalid_type",
        )
    return payload


async def reply_json(
    state: FakeState, request: web.Request, obj: Any, *, status: int = 200
) -> web.StreamResponse:
    """Answer with ``obj`` as JSON; a stream fault on a JSON answer cuts or stalls it whole."""
    return await reply_bytes(state, request, orjson.dumps(obj), "application/json", status=status)


async def reply_bytes(
    state: FakeState,
    request: web.Request,
    body: bytes,
    content_type: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    """Answer with ``body`` whole. A stall fault sends the headers and the first half of the
    body, then hangs (a download or audio stream stopping midway); a drop fault cuts it."""
    fault = request_fault(request)
    if fault is not None:
        if fault.stall_after_events is not None:
            response = web.StreamResponse(status=status, headers={"Content-Type": content_type})
            await response.prepare(request)
            await response.write(body[: len(body) // 2])
            await state.stall()
            return drop(request, response)
        if fault.drop_after_events is not None:
            return drop(request, web.Response())
    return web.Response(
        status=status, body=body, headers={"Content-Type": content_type, **(headers or {})}
    )


async def reply_stream(
    state: FakeState,
    request: web.Request,
    events: list[bytes],
    on_end: Callable[[int], None] | None = None,
) -> web.StreamResponse:
    """Stream SSE frames one write each, paced, and cut or stalled where the fault says.

    ``on_end`` is told, once, how many events were written whole, however the stream ends
    (finished, cut by a fault, or left by the client)."""
    sent = 0

    def count(written: int) -> None:
        nonlocal sent
        sent = written

    try:
        return await _stream(state, request, events, count)
    finally:
        if on_end is not None:
            on_end(sent)


async def _stream(
    state: FakeState, request: web.Request, events: list[bytes], count: Callable[[int], None]
) -> web.StreamResponse:
    fault = request_fault(request)
    drop_after = fault.drop_after_events if fault is not None else None
    stall_after = fault.stall_after_events if fault is not None else None
    response = web.StreamResponse(
        status=200,
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
        },
    )
    await response.prepare(request)
    for index, event in enumerate(events):
        if drop_after is not None and index >= drop_after:
            return drop(request, response)
        if stall_after is not None and index >= stall_after:
            await state.stall()
            return drop(request, response)
        if index and state.event_delay_s:
            await asyncio.sleep(state.event_delay_s)
        try:
            # One write per event, so each one is flushed to the client on its own.
            await response.write(event)
        except ConnectionError:
            # The client hung up mid-stream (a case gateway tests provoke on purpose);
            # that is not a server error worth a logged traceback.
            return response
        count(index + 1)
    if drop_after is not None:
        return drop(request, response)
    if stall_after is not None:
        await state.stall()
        return drop(request, response)
    await response.write_eof()
    return response


async def update_metadata(
    state: FakeState, request: web.Request, obj: JsonObject
) -> web.StreamResponse:
    """``POST …/{id}`` with ``metadata`` (stored chat completions, conversations): replaced."""
    payload = await read_payload(request)
    if "metadata" not in payload:
        raise missing_parameter("metadata")
    obj["metadata"] = check_metadata(payload["metadata"]) or {}
    return await reply_json(state, request, obj)


async def reply_deleted(
    state: FakeState, request: web.Request, object_id: str, kind: str
) -> web.StreamResponse:
    return await reply_json(state, request, {"id": object_id, "object": kind, "deleted": True})
