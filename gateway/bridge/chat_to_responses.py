"""A Chat Completions request as the Responses API request that asks the same thing.

Only what maps faithfully is translated; a field whose meaning the Responses
API cannot carry is refused by name (:func:`refusal`), never dropped, since a
dropped field would silently change the answer the client gets.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import BadRequest

# Chat fields carried to the Responses request under the same name and meaning.
_SAME = (
    "model",
    "temperature",
    "top_p",
    "stream",
    "metadata",
    "user",
    "parallel_tool_calls",
    "service_tier",
    "prompt_cache_key",
    "prompt_cache_options",
    "prompt_cache_retention",
    "safety_identifier",
    "moderation",
)
# Chat fields translated below (or checked and left out because they ask for the default).
_MAPPED = frozenset(
    {
        *_SAME,
        "messages",
        "tools",
        "tool_choice",
        "response_format",
        "max_tokens",
        "max_completion_tokens",
        "stream_options",
        "n",
        "store",
        "reasoning_effort",
        "verbosity",
        "modalities",
        "logprobs",
        "frequency_penalty",
        "presence_penalty",
    }
)
# Why a Chat field has no faithful Responses counterpart.
_NO_COUNTERPART = {
    "n": "the Responses API makes one answer per request",
    "logprobs": "the Responses API reports log probabilities in another shape",
    "top_logprobs": "the Responses API reports log probabilities in another shape",
    "logit_bias": "the Responses API has no logit bias",
    "audio": "the Responses API does not answer with audio",
    "modalities": "the Responses API does not answer with audio",
    "functions": "legacy functions are not translated; use tools",
    "function_call": "legacy function_call is not translated; use tool_choice",
    "prediction": "the Responses API has no predicted outputs",
    "seed": "the Responses API has no seed",
    "stop": "the Responses API has no stop sequences",
    "frequency_penalty": "the Responses API has no frequency penalty",
    "presence_penalty": "the Responses API has no presence penalty",
    "web_search_options": "web search is a tool of its own in the Responses API",
    "store": "a stored answer would be a response, not a chat completion the Chat API can read",
}
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


def refuse(field: str, why: str) -> BadRequest:
    return BadRequest(
        f"`{field}` cannot be served on this route, which answers Chat Completions through "
        f"the Responses API: {why}. Remove it, or call a route without `chat_via_responses`.",
        param=field,
        code="unsupported_on_bridge",
    )


def check(body: dict[str, Any]) -> None:
    """Refuses the first field that cannot be translated without changing the answer."""
    for field, value in body.items():
        if value is None or _default(field, value):
            continue
        if field in _NO_COUNTERPART:
            raise refuse(field, _NO_COUNTERPART[field])
        if field not in _MAPPED:
            raise refuse(field, "the bridge does not translate it")
    options = body.get("stream_options")
    if isinstance(options, dict):
        for key in options:
            if key not in ("include_usage", "include_obfuscation"):
                raise refuse(f"stream_options.{key}", "the bridge does not translate it")
    messages = body.get("messages")
    for i, message in enumerate(messages if isinstance(messages, list) else []):
        input_items(message, i)  # each message's refusals, before anything is sent


def _default(field: str, value: Any) -> bool:
    """A value that asks for what the Responses API does anyway."""
    return (
        (field == "n" and value == 1)
        or (field == "logprobs" and value is False)
        or (field in ("frequency_penalty", "presence_penalty") and value == 0)
        or (field == "store" and value is False)
        or (field == "modalities" and value == ["text"])
    )


def to_responses(body: dict[str, Any]) -> dict[str, Any]:
    """The Responses request for a checked Chat request (:func:`check`)."""
    out: dict[str, Any] = {k: body[k] for k in _SAME if body.get(k) is not None}
    messages = body.get("messages")
    items = [it for i, m in enumerate(messages or []) for it in input_items(m, i)]
    out["input"] = items
    out["store"] = False  # Chat's default; a stored answer is refused by `check`
    cap = body.get("max_completion_tokens", body.get("max_tokens"))
    if cap is not None:
        out["max_output_tokens"] = cap
    if body.get("tools"):
        out["tools"] = [_tool(t, i) for i, t in enumerate(body["tools"])]
    if body.get("tool_choice") is not None:
        out["tool_choice"] = _tool_choice(body["tool_choice"])
    text = _text(body.get("response_format"), body.get("verbosity"))
    if text:
        out["text"] = text
    if body.get("reasoning_effort") is not None:
        out["reasoning"] = {"effort": body["reasoning_effort"]}
    options = body.get("stream_options")
    if body.get("stream") and isinstance(options, dict) and "include_obfuscation" in options:
        out["stream_options"] = {"include_obfuscation": options["include_obfuscation"]}
    return out


def input_items(message: Any, i: int) -> list[dict[str, Any]]:
    """One Chat message as Responses input items (an assistant's tool calls are items)."""
    where = f"messages[{i}]"
    if not isinstance(message, dict) or message.get("role") not in _ROLES:
        raise refuse(f"{where}.role", "only system, developer, user, assistant and tool translate")
    if message.get("name") is not None:
        raise refuse(f"{where}.name", "Responses input messages carry no participant name")
    role = message["role"]
    if role == "tool":
        output = _plain_text(message.get("content"), where)
        return [
            {
                "type": "function_call_output",
                "call_id": message.get("tool_call_id"),
                "output": output,
            }
        ]
    if role == "assistant":
        return _assistant(message, where)
    return [{"role": role, "content": _content(message.get("content"), where)}]


def _assistant(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    for field in ("audio", "function_call", "refusal"):
        if message.get(field) is not None:
            raise refuse(f"{where}.{field}", "a past assistant turn can only be text and tools")
    items: list[dict[str, Any]] = []
    content = message.get("content")
    if content:
        items.append({"role": "assistant", "content": _plain_text(content, where)})
    for call in message.get("tool_calls") or []:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or call.get("type", "function") != "function":
            raise refuse(f"{where}.tool_calls", "only function tool calls translate")
        items.append(
            {
                "type": "function_call",
                "call_id": call.get("id"),
                "name": fn.get("name"),
                "arguments": fn.get("arguments", ""),
            }
        )
    return items


def _plain_text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    texts = []
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict) or part.get("type") != "text":
            raise refuse(f"{where}.content", "this turn can only hold text parts")
        texts.append(str(part.get("text", "")))
    return "".join(texts)


def _content(content: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    return [_part(p, f"{where}.content[{j}]") for j, p in enumerate(content or [])]


def _part(part: Any, where: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text":
        return {"type": "input_text", "text": part.get("text", "")}
    if kind == "image_url":
        image = part.get("image_url") or {}
        return {
            "type": "input_image",
            "image_url": image.get("url"),
            "detail": image.get("detail") or "auto",
        }
    if kind == "file":
        file = {k: v for k, v in (part.get("file") or {}).items() if v is not None}
        return {"type": "input_file", **file}
    raise refuse(where, f"a {kind} content part has no Responses input counterpart")


def _tool(tool: Any, i: int) -> dict[str, Any]:
    fn = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(fn, dict) or tool.get("type") != "function":
        raise refuse(f"tools[{i}]", "only function tools translate")
    out = {"type": "function", "name": fn.get("name"), "strict": bool(fn.get("strict"))}
    # Chat's strict defaults to off, the Responses API's to on: said explicitly.
    for key in ("description", "parameters"):
        if fn.get(key) is not None:
            out[key] = fn[key]
    return out


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str):
        return choice
    fn = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(fn, dict) and choice.get("type") == "function":
        return {"type": "function", "name": fn.get("name")}
    raise refuse("tool_choice", "only none, auto, required or one function translate")


def _text(response_format: Any, verbosity: Any) -> dict[str, Any]:
    text: dict[str, Any] = {}
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind in ("text", "json_object"):
            text["format"] = {"type": kind}
        elif kind == "json_schema":
            schema = response_format.get("json_schema") or {}
            text["format"] = {"type": "json_schema", **schema}
        else:
            raise refuse("response_format", f"type {kind!r} does not translate")
    if verbosity is not None:
        text["verbosity"] = verbosity
    return text
