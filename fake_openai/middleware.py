"""The front door every request passes: record it, let a queued fault take it, check the key,
render ``ApiError`` as OpenAI's error body, and add the headers OpenAI sends on every answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from fake_openai.credentials import check_auth
from fake_openai.faults import Fault
from fake_openai.state import FakeState, RecordedRequest
from fake_openai.transport import (
    BODY_TOKENS_KEY,
    FAULT_KEY,
    START_KEY,
    drop,
    reply_json,
    request_fault,
)
from fake_openai.wire import (
    RATE_LIMIT_REQUESTS,
    RATE_LIMIT_TOKENS,
    ApiError,
    fault_error,
    go_duration,
    new_id,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fault_response(fault: Fault) -> web.Response:
    """The answer a fault with ``status`` or ``body`` sends instead of the real one."""
    status = fault.status if fault.status is not None else 200
    if fault.body is not None:
        body = fault.body
    elif status >= 400:
        body = orjson.dumps(fault_error(status).body())
    else:
        body = b"{}"
    return web.Response(status=status, body=body, content_type="application/json")


class FrontDoor:
    """The app's middleware and response-headers hook, over one fake's state."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        state = self._state
        request[START_KEY] = time.monotonic()
        body = await request.read()
        request[BODY_TOKENS_KEY] = len(body) // 4
        # Record first: tests assert on what arrived even when the call then fails.
        state.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query.items()),
                headers={name.lower(): value for name, value in request.headers.items()},
                body=body,
            )
        )
        fault = state.pop_fault(request.path, body, request.query.get("model"))
        if fault is not None:
            request[FAULT_KEY] = fault
            if fault.delay_s:
                await asyncio.sleep(fault.delay_s)
            if fault.drop_connection:
                return drop(request, web.Response())
            if fault.status is not None or fault.body is not None:
                return fault_response(fault)
        try:
            check_auth(state.api_key, state.secrets, request)
            return await handler(request)
        except ApiError as exc:
            return await reply_json(state, request, exc.body(), status=exc.status)
        except TypeError:
            # The API checks every field's type; the handlers check the ones they use and
            # trust the rest, so a value of the wrong type that trips one gets the API's 400.
            error = ApiError(400, "Invalid type for a parameter.", code="invalid_type")
            return await reply_json(state, request, error.body(), status=400)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            error = ApiError(404, f"Invalid URL ({request.method} {request.path})")
            return await reply_json(state, request, error.body(), status=404)

    @staticmethod
    async def add_standard_headers(request: web.Request, response: web.StreamResponse) -> None:
        """Request id, processing time, API version and rate-limit headers, as OpenAI sends."""
        started = request.get(START_KEY)
        elapsed_ms = 0 if started is None else int((time.monotonic() - started) * 1000)
        used_tokens = request.get(BODY_TOKENS_KEY, 0)
        headers = response.headers
        headers["x-request-id"] = new_id("req_", 16)
        headers["openai-processing-ms"] = str(elapsed_ms)
        headers["openai-version"] = "2020-10-01"
        headers["openai-organization"] = "fake-org"
        headers["x-ratelimit-limit-requests"] = str(RATE_LIMIT_REQUESTS)
        headers["x-ratelimit-limit-tokens"] = str(RATE_LIMIT_TOKENS)
        headers["x-ratelimit-remaining-requests"] = str(RATE_LIMIT_REQUESTS - 1)
        headers["x-ratelimit-remaining-tokens"] = str(RATE_LIMIT_TOKENS - used_tokens)
        headers["x-ratelimit-reset-requests"] = go_duration(60 / RATE_LIMIT_REQUESTS)
        headers["x-ratelimit-reset-tokens"] = go_duration(used_tokens * 60 / RATE_LIMIT_TOKENS)
        fault = request_fault(request)
        if fault is not None:
            headers.update(fault.headers)
