"""The Responses API's answer to a ``POST /v1/responses`` body: validation, the ``response``
object with its output items and usage, and the store behind ``previous_response_id``.

Shared by the HTTP route (JSON and SSE) and the Responses WebSocket mode.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fake_openai.billing import billed_response
from fake_openai.conversation_store import append_items, referenced_conversation
from fake_openai.faults import Fault
from fake_openai.generation import Generation, Prompt, is_reasoning_model, plan_generation
from fake_openai.params import (
    echo_service_tier,
    message_parts_text,
    optional_int,
    require_text_model,
)
from fake_openai.state import FakeState, StoredResponse
from fake_openai.stores import ConversationState
from fake_openai.wire import ApiError, JsonObject, new_id

SocketResponses = dict[str, StoredResponse]
"""A Responses WebSocket's own unstored response, by id: what it may chain to besides the store."""


@dataclass
class RequestContext:
    """What a Responses-style body asks about: its input and everything its prompt holds."""

    input_items: list[JsonObject]
    input_texts: list[str]
    context: list[str]
    """Texts the answer's turn sees (inherited history, then this input), for token counts."""
    prompt: Prompt
    """Instructions and ``context``: what input tokens are counted on."""
    conversation: ConversationState | None


def read_context(
    state: FakeState, payload: JsonObject, socket: SocketResponses | None = None
) -> RequestContext:
    """Validate a body's input, instructions, ``previous_response_id`` and ``conversation``.

    Shared by ``POST /v1/responses``, ``…/input_tokens``, ``…/compact`` and the WebSocket
    mode, whose ``socket`` responses can be chained to although they were not stored.
    """
    input_items = normalize_input(payload.get("input"))
    instructions = payload.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise ApiError(
            400,
            "Invalid type for 'instructions': expected a string.",
            param="instructions",
            code="invalid_type",
        )
    previous = _previous(state, payload.get("previous_response_id"), socket)
    conversation = referenced_conversation(state, payload.get("conversation"))
    if conversation is not None and previous is not None:
        raise ApiError(
            400,
            "Mutually exclusive parameters: Ensure you are only providing one of: "
            "'previous_response_id' or 'conversation'.",
            param="conversation",
            code="mutually_exclusive_parameters",
        )
    input_texts = [text for item in input_items for text in input_item_texts(item)]
    history = previous.context if previous else conversation_texts(conversation)
    context = [*history, *input_texts]
    prompt = Prompt([*([instructions] if instructions else []), *context])
    return RequestContext(input_items, input_texts, context, prompt, conversation)


def plan_response(
    state: FakeState,
    payload: JsonObject,
    fault: Fault | None,
    *,
    generate: bool = True,
    socket: SocketResponses | None = None,
) -> tuple[JsonObject, JsonObject]:
    """Answer a ``POST /v1/responses`` body: ``(final object, object returned at once)``.

    They differ only for background requests (returned queued). Stores the response
    unless ``store`` is false. Raises ``ApiError`` for an invalid body. ``generate=False``
    is the WebSocket mode's warm-up: the input is read (and cached) and the response completes
    with no output, so a later ``previous_response_id`` can chain to it. On a socket, a
    response with ``store: false`` is kept in ``socket`` (its latest only) for chaining.
    """
    model = require_text_model(payload)
    limit = optional_int(payload, "max_output_tokens", minimum=1)
    request = read_context(state, payload, socket)
    input_items, input_texts = request.input_items, request.input_texts
    conversation, prompt = request.conversation, request.prompt
    input_tokens = prompt.tokens
    cached = state.cached_tokens(model, payload.get("prompt_cache_key"), prompt, input_tokens)
    generation = plan_generation(model, " ".join(input_texts), limit, fault)
    if not generate:
        generation = Generation(0, [], truncated=False)

    output = response_output(payload, generation, " ".join(input_texts)) if generate else []
    usage = usage_object(
        input_tokens, cached, generation.output_tokens, generation.reasoning_tokens
    )
    created_at = int(time.time())
    final = response_object(
        new_id("resp_"), payload, model, created_at, output, usage, generation.incomplete
    )
    if conversation is not None:
        final["conversation"] = {"id": conversation.obj["id"]}
        append_items(conversation, [*input_items, *output])
    returned = final
    if payload.get("background") and not payload.get("stream"):
        returned = {
            **final,
            "status": "queued",
            "output": [],
            "usage": None,
            "completed_at": None,
            "incomplete_details": None,
        }
        returned.pop("tool_usage", None)
    stored = StoredResponse(
        obj=returned,
        input_items=input_items,
        context=[*request.context, *([generation.text] if generate else [])],
        final=final if returned is not final else None,
    )
    if payload.get("store", True) is not False:
        # Stored before streaming: a stream cut short can still be settled with GET.
        state.responses[final["id"]] = stored
    elif socket is not None:
        socket.clear()
        socket[final["id"]] = stored
    return final, returned


def finish_background(state: FakeState, response_id: str) -> JsonObject:
    """Complete a queued background response, as the real API eventually would."""
    stored = state.responses.get(response_id)
    if stored is None or stored.final is None:
        raise KeyError(f"no background response {response_id!r}")
    if stored.obj["status"] in ("queued", "in_progress"):
        stored.obj = stored.final
        state.billed.append(billed_response(stored.final))
    return stored.obj


def conversation_texts(conversation: ConversationState | None) -> list[str]:
    """The prompt texts of a conversation's items so far, in order."""
    if conversation is None:
        return []
    return [text for item in conversation.items.values() for text in input_item_texts(item)]


def _previous(
    state: FakeState, previous_id: Any, socket: SocketResponses | None
) -> StoredResponse | None:
    if previous_id is None:
        return None
    previous = state.responses.get(previous_id) if isinstance(previous_id, str) else None
    if previous is None and socket is not None and isinstance(previous_id, str):
        previous = socket.get(previous_id)
    if previous is None:
        raise ApiError(
            400,
            f"Previous response with id '{previous_id}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    return previous


def usage_object(input_tokens: int, cached: int, output_tokens: int, reasoning: int) -> JsonObject:
    """A Responses ``usage`` object, in the shape current SDKs validate: the optional
    ``cache_write_tokens_details`` object is left out, since ``@openai/agents`` requires every
    ``input_tokens_details`` value to be a number and rejects a stream that carries it."""
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }


def input_item_texts(item: JsonObject) -> list[str]:
    """The texts of one input item that count as prompt."""
    kind = item.get("type", "message")
    if kind == "message":
        return message_parts_text(item.get("content"))
    if kind == "function_call_output" and isinstance(item.get("output"), str):
        return [item["output"]]
    if kind == "function_call" and isinstance(item.get("arguments"), str):
        return [item["arguments"]]
    return []


def normalize_input(raw: Any) -> list[JsonObject]:
    """Turn a Responses ``input`` into stored input items, each with an id, as GET lists them."""
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [{"role": "user", "content": raw}]
    if not isinstance(raw, list):
        raise ApiError(
            400,
            "Invalid type for 'input': expected one of a string or array of input items, "
            f"but got {type(raw).__name__} instead.",
            param="input",
            code="invalid_type",
        )
    items: list[JsonObject] = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise ApiError(
                400,
                f"Invalid type for 'input[{index}]': expected an input item object.",
                param=f"input[{index}]",
                code="invalid_type",
            )
        item = dict(entry)
        kind = item.setdefault("type", "message" if "role" in item else "item")
        if kind == "message":
            role = item.get("role", "user")
            content = item.get("content")
            if isinstance(content, str):
                part_type = "output_text" if role == "assistant" else "input_text"
                item["content"] = [{"type": part_type, "text": content}]
            elif not isinstance(content, list):
                raise ApiError(
                    400,
                    f"Invalid type for 'input[{index}].content': expected a string or an "
                    "array of content parts.",
                    param=f"input[{index}].content",
                    code="invalid_type",
                )
            item["role"] = role
            item.setdefault("status", "completed")
            item.setdefault("id", new_id("msg_"))
        else:
            item.setdefault("id", new_id("item_"))
        items.append(item)
    return items


def response_output(
    payload: JsonObject, generation: Generation, source_text: str
) -> list[JsonObject]:
    """The output items: reasoning, a web search when the tools ask for one, then the answer."""
    output: list[JsonObject] = []
    if generation.reasoning_tokens:
        output.append({"id": new_id("rs_"), "type": "reasoning", "summary": []})
    tools = payload.get("tools")
    if isinstance(tools, list) and any(_is_web_search_tool(tool) for tool in tools):
        output.append(
            {
                "id": new_id("ws_"),
                "type": "web_search_call",
                "status": "completed",
                "action": {
                    "type": "search",
                    "query": " ".join(source_text.split()[:8]),
                    "sources": [],
                },
            }
        )
    if not generation.visible:
        return output
    status = "incomplete" if generation.incomplete else "completed"
    if generation.kind == "function_call":
        output.append(
            {
                "id": new_id("fc_"),
                "type": "function_call",
                "status": status,
                "call_id": new_id("call_", 12),
                "name": generation.function_name,
                "arguments": generation.text,
            }
        )
        return output
    part: JsonObject = (
        {"type": "refusal", "refusal": generation.text}
        if generation.kind == "refusal"
        else {"type": "output_text", "text": generation.text, "annotations": [], "logprobs": []}
    )
    output.append(
        {
            "id": new_id("msg_"),
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": [part],
        }
    )
    return output


def response_object(
    response_id: str,
    payload: JsonObject,
    model: str,
    created_at: int,
    output: list[JsonObject],
    usage: JsonObject,
    truncated: bool,
) -> JsonObject:
    """The ``response`` object: the request's settings echoed, with their defaults filled in."""
    reasoning_default = (
        {"effort": "medium", "summary": None}
        if is_reasoning_model(model)
        else {"effort": None, "summary": None}
    )
    obj: JsonObject = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": "incomplete" if truncated else "completed",
        "background": bool(payload.get("background")),
        "completed_at": None if truncated else created_at,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if truncated else None,
        "instructions": payload.get("instructions"),
        "max_output_tokens": payload.get("max_output_tokens"),
        "max_tool_calls": payload.get("max_tool_calls"),
        "model": model,
        "output": output,
        "parallel_tool_calls": payload.get("parallel_tool_calls", True),
        "previous_response_id": payload.get("previous_response_id"),
        "prompt_cache_key": payload.get("prompt_cache_key"),
        "reasoning": payload.get("reasoning") or reasoning_default,
        "safety_identifier": payload.get("safety_identifier"),
        "service_tier": echo_service_tier(payload.get("service_tier")),
        "store": payload.get("store", True) is not False,
        "temperature": payload.get("temperature", 1.0),
        "text": payload.get("text") or {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": payload.get("tool_choice", "auto"),
        "tools": payload.get("tools") or [],
        "top_logprobs": payload.get("top_logprobs", 0),
        "top_p": payload.get("top_p", 1.0),
        "truncation": payload.get("truncation", "disabled"),
        "usage": usage,
        "user": payload.get("user"),
        "metadata": payload.get("metadata") or {},
    }
    if any(item["type"] == "web_search_call" for item in output):
        obj["tool_usage"] = {"web_search": {"num_requests": 1}}
    return obj


def _is_web_search_tool(tool: Any) -> bool:
    return isinstance(tool, dict) and str(tool.get("type", "")).startswith("web_search")
