"""``POST /v1/responses/input_tokens`` and ``POST /v1/responses/compact``.

Input tokens are counted exactly as ``POST /v1/responses`` would bill them (instructions,
inherited context from ``previous_response_id`` or ``conversation``, then the input). A
compaction keeps the input's user messages and adds one ``compaction`` item whose opaque
content is derived from the context; it is billed like a call: the input tokens of that
context, and one output token per 4 of them (at least 1).
"""

from __future__ import annotations

import base64
import hashlib
import time

from aiohttp import web

from fake_openai.params import require_model
from fake_openai.responses import read_context, usage_object
from fake_openai.state import FakeState
from fake_openai.transport import read_payload, reply_json
from fake_openai.wire import RESPONSES_PATH, JsonObject, new_id


def count_input_tokens(state: FakeState, payload: JsonObject) -> JsonObject:
    """The ``response.input_tokens`` answer to a body."""
    request = read_context(state, payload)
    return {"object": "response.input_tokens", "input_tokens": request.prompt.tokens}


def compact(state: FakeState, payload: JsonObject) -> JsonObject:
    """The ``response.compaction`` answer to a body."""
    require_model(payload)
    request = read_context(state, payload)
    kept = [
        item
        for item in request.input_items
        if item.get("type") == "message" and item.get("role") == "user"
    ]
    digest = hashlib.sha256("\x00".join(request.prompt.parts).encode()).digest()
    input_tokens = request.prompt.tokens
    output_tokens = max(1, input_tokens // 4)
    return {
        "id": new_id("resp_"),
        "object": "response.compaction",
        "created_at": int(time.time()),
        "output": [
            *kept,
            {
                "id": new_id("cmp_"),
                "type": "compaction",
                "encrypted_content": base64.b64encode(b"fake-compaction:" + digest).decode(),
            },
        ],
        "usage": usage_object(input_tokens, 0, output_tokens, 0),
    }


class ResponsesExtrasApi:
    """The input-token count and compaction routes."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(RESPONSES_PATH + "/input_tokens", self._input_tokens)
        router.add_post(RESPONSES_PATH + "/compact", self._compact)

    async def _input_tokens(self, request: web.Request) -> web.StreamResponse:
        payload = await read_payload(request)
        return await reply_json(self._state, request, count_input_tokens(self._state, payload))

    async def _compact(self, request: web.Request) -> web.StreamResponse:
        payload = await read_payload(request)
        return await reply_json(self._state, request, compact(self._state, payload))
