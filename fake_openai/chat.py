"""``POST /v1/chat/completions``: a ``chat.completion`` object, or with ``stream`` a run of
``chat.completion.chunk`` frames (bare ``data:`` lines) ending in ``data: [DONE]``. With
``store: true`` the completion is kept (chat_store.py serves it).

The answer echoes the last user message. ``n`` choices repeat the same answer and bill it
``n`` times; ``stream_options.include_usage`` adds ``usage: null`` to every chunk and one
last chunk with no choices and the usage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web

from fake_openai.billing import billed_chat, on_stream_end
from fake_openai.chat_store import store_chat
from fake_openai.encoding import SSE_DONE, sse
from fake_openai.faults import Fault
from fake_openai.generation import Generation, Prompt, plan_generation
from fake_openai.params import (
    echo_service_tier,
    message_parts_text,
    optional_int,
    require_text_model,
)
from fake_openai.state import FakeState
from fake_openai.transport import (
    answer_cut,
    read_payload,
    reply_json,
    reply_stream,
    request_fault,
)
from fake_openai.wire import ApiError, JsonObject, missing_parameter, new_id, obfuscation


class ChatApi:
    """The Chat Completions route."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/chat/completions", self._create)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        payload = await read_payload(request)
        plan = plan_chat(self._state, payload, request_fault(request))
        if not payload.get("stream"):
            cut = answer_cut(request)
            self._state.billed.append(billed_chat(plan.completion, delivered=not cut))
            return await reply_json(self._state, request, plan.completion)

        options = payload.get("stream_options") or {}
        chunks = _chunks(
            plan.base,
            plan.generation,
            plan.call_ids,
            plan.finish_reason,
            plan.completion["usage"] if options.get("include_usage") else None,
            bool(options.get("include_obfuscation", True)),
        )
        events = [sse(chunk, named=False) for chunk in chunks]
        # The last chunk carries the usage (or, without include_usage, the finish reason).
        on_end = on_stream_end(self._state.billed, billed_chat(plan.completion), len(events) - 1)
        events.append(SSE_DONE)
        return await reply_stream(self._state, request, events, on_end)


@dataclass
class ChatPlan:
    """One answer to a Chat Completions body: the completion and what its stream needs."""

    completion: JsonObject
    base: JsonObject
    """The fields every chunk repeats (id, created, model, tier, fingerprint)."""
    generation: Generation
    call_ids: list[str]
    finish_reason: str


def plan_chat(state: FakeState, payload: JsonObject, fault: Fault | None) -> ChatPlan:
    """Answer a Chat Completions body (stored with ``store: true``); ``ApiError`` if invalid.

    Shared by the route and by batches (batches.py).
    """
    model = require_text_model(payload)
    prompt, source = _read_messages(payload.get("messages"))
    n = optional_int(payload, "n", minimum=1) or 1
    limit = optional_int(payload, "max_completion_tokens", minimum=1)
    if limit is None:
        limit = optional_int(payload, "max_tokens", minimum=1)

    generation = plan_generation(model, source, limit, fault)
    prompt_tokens = prompt.tokens
    cached = state.cached_tokens(model, payload.get("prompt_cache_key"), prompt, prompt_tokens)
    finish_reason = _finish_reason(generation)
    call_ids = [new_id("call_", 12) for _ in range(n)]
    base: JsonObject = {
        "id": new_id("chatcmpl-", 15),
        "created": int(time.time()),
        "model": model,
        "service_tier": echo_service_tier(payload.get("service_tier")),
        "system_fingerprint": state.system_fingerprint,
    }
    completion = {
        **base,
        "object": "chat.completion",
        "choices": [
            {
                "index": index,
                "message": _message(generation, call_ids[index]),
                "logprobs": None,
                "finish_reason": finish_reason,
            }
            for index in range(n)
        ],
        "usage": _usage(prompt_tokens, cached, n, generation),
    }
    if payload.get("store") is True:
        store_chat(state, payload, completion)
    return ChatPlan(completion, base, generation, call_ids, finish_reason)


def _read_messages(messages: object) -> tuple[Prompt, str]:
    """The prompt of ``messages`` and the text the answer echoes (the last user message)."""
    if messages is None:
        raise missing_parameter("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(
            400,
            "Invalid 'messages': expected a non-empty array of messages.",
            param="messages",
            code="empty_array" if isinstance(messages, list) else "invalid_type",
        )
    prompt = Prompt()
    last_user_text: str | None = None
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ApiError(
                400,
                f"Invalid 'messages[{index}]': expected an object with a 'role'.",
                param=f"messages[{index}]",
                code="invalid_type",
            )
        texts = message_parts_text(message.get("content"))
        prompt.parts.extend(texts)
        if message["role"] == "user":
            last_user_text = " ".join(texts)
    source = last_user_text if last_user_text is not None else " ".join(prompt.parts)
    return prompt, source


def _usage(prompt_tokens: int, cached: int, n: int, generation: Generation) -> JsonObject:
    completion_tokens = n * generation.output_tokens
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": n * generation.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _finish_reason(generation: Generation) -> str:
    if generation.incomplete:
        return "length"
    if generation.kind == "function_call":
        return "tool_calls"
    return "stop"


def _message(generation: Generation, call_id: str) -> JsonObject:
    message: JsonObject = {"role": "assistant", "content": None, "refusal": None}
    if generation.kind == "refusal":
        message["refusal"] = generation.text
    elif generation.kind == "function_call":
        message["tool_calls"] = [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": generation.function_name, "arguments": generation.text},
            }
        ]
    else:
        message["content"] = generation.text
    message["annotations"] = []
    return message


def _chunks(
    base: JsonObject,
    generation: Generation,
    call_ids: list[str],
    finish_reason: str,
    usage: JsonObject | None,
    obfuscate: bool,
) -> list[JsonObject]:
    """Every chunk of the stream: each choice's deltas, each choice's finish, then usage.

    ``usage`` is None unless the client asked for it with ``include_usage``.
    """
    include_usage = usage is not None
    deltas: list[tuple[int, JsonObject, str | None]] = []
    for index, call_id in enumerate(call_ids):
        deltas.extend((index, delta, None) for delta in _deltas(generation, call_id))
    deltas.extend((index, {}, finish_reason) for index in range(len(call_ids)))
    chunks = [
        _chunk(
            base,
            [{"index": index, "delta": delta, "logprobs": None, "finish_reason": reason}],
            include_usage,
            None,
            obfuscate,
        )
        for index, delta, reason in deltas
    ]
    if include_usage:
        chunks.append(_chunk(base, [], include_usage, usage, obfuscate))
    return chunks


def _deltas(generation: Generation, call_id: str) -> list[JsonObject]:
    """The ``delta`` objects of one choice, before its ``finish_reason`` chunk."""
    if generation.kind == "refusal":
        first: JsonObject = {"role": "assistant", "content": None, "refusal": ""}
        return [first, *({"refusal": piece} for piece in generation.deltas)]
    if generation.kind == "function_call":
        call = {"index": 0, "id": call_id, "type": "function"}
        first = {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "tool_calls": [
                {**call, "function": {"name": generation.function_name, "arguments": ""}}
            ],
        }
        return [
            first,
            *(
                {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
                for piece in generation.deltas
            ),
        ]
    first = {"role": "assistant", "content": "", "refusal": None}
    return [first, *({"content": piece} for piece in generation.deltas)]


def _chunk(
    base: JsonObject,
    choices: list[JsonObject],
    include_usage: bool,
    usage: JsonObject | None,
    obfuscate: bool,
) -> JsonObject:
    chunk: JsonObject = {**base, "object": "chat.completion.chunk", "choices": choices}
    if include_usage:
        chunk["usage"] = usage
    if obfuscate:
        chunk["obfuscation"] = obfuscation()
    return chunk
