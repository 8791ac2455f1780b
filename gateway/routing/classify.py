"""Is this answer good enough, or should the next rung try? (pure)

Machine-checkable failures only: the upstream failed or throttled, the
answer stopped at the output cap, structured output that does not parse or
does not match the request's own JSON schema, a function call whose
arguments do not match the declared tool's parameters, or a refusal. Every
failure found is returned; the route decides which ones escalate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson

from gateway.metering.outcome import Outcome

Judge = Callable[[dict[str, Any], dict[str, Any]], Iterator[str]]


def classify(judge: Judge | None, outcome: Outcome, request: dict[str, Any]) -> list[str]:
    """Why this attempt is not good enough ([] if it is); ``judge`` reads the endpoint's answers."""
    status = outcome.status
    if status == 0:
        return ["timeout" if outcome.error_code == "upstream_timeout" else "upstream_error"]
    if status == 429:
        return ["rate_limited"]
    if status >= 500:
        return ["upstream_error"]
    if status >= 400:
        return []  # the request itself is wrong: another model will not fix it
    answer = outcome.body
    if answer is None and outcome.facts is not None:
        answer = outcome.facts.response  # a buffered Responses stream
    if answer is None or judge is None:
        return []
    return list(judge(answer, request))


def judge_responses(resp: dict[str, Any], request: dict[str, Any]) -> Iterator[str]:
    if resp.get("status") == "failed":
        yield "upstream_error"
    details = resp.get("incomplete_details")
    if resp.get("status") == "incomplete" and (
        isinstance(details, dict) and details.get("reason") == "max_output_tokens"
    ):
        yield "incomplete"
    texts, refused, calls = [], False, []
    for item in _list(resp.get("output")):
        if item.get("type") == "message":
            for part in _list(item.get("content")):
                if part.get("type") == "refusal":
                    refused = True
                elif part.get("type") == "output_text" and isinstance(part.get("text"), str):
                    texts.append(part["text"])
        elif item.get("type") == "function_call":
            calls.append((item.get("name"), item.get("arguments")))
    if refused:
        yield "refusal"
    text_cfg = request.get("text")
    fmt = text_cfg.get("format") if isinstance(text_cfg, dict) else None
    if isinstance(fmt, dict) and texts:
        yield from _structured("".join(texts), fmt.get("type"), fmt.get("schema"))
    tools = {
        t.get("name"): t.get("parameters")
        for t in _list(request.get("tools"))
        if t.get("type") == "function"
    }
    yield from _tool_calls(calls, tools)


def judge_chat(resp: dict[str, Any], request: dict[str, Any]) -> Iterator[str]:
    choices = _list(resp.get("choices"))
    if not choices:
        return
    choice = choices[0]
    if choice.get("finish_reason") == "length":
        yield "incomplete"
    message = choice.get("message")
    if not isinstance(message, dict):
        return
    if message.get("refusal"):
        yield "refusal"
    fmt = request.get("response_format")
    content = message.get("content")
    if isinstance(fmt, dict) and isinstance(content, str):
        schema = fmt.get("json_schema")
        yield from _structured(
            content, fmt.get("type"), schema.get("schema") if isinstance(schema, dict) else None
        )
    tools = {}
    for t in _list(request.get("tools")):
        fn = t.get("function")
        if t.get("type") == "function" and isinstance(fn, dict):
            tools[fn.get("name")] = fn.get("parameters")
    calls = []
    for call in _list(message.get("tool_calls")):
        fn = call.get("function")
        if isinstance(fn, dict):
            calls.append((fn.get("name"), fn.get("arguments")))
    yield from _tool_calls(calls, tools)


def _structured(text: str, kind: Any, schema: Any) -> Iterator[str]:
    if kind not in ("json_schema", "json_object"):
        return
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        yield "invalid_json"
        return
    if kind == "json_schema" and isinstance(schema, dict) and not _valid(value, schema):
        yield "schema_mismatch"


def _tool_calls(calls: list[tuple[Any, Any]], tools: dict[Any, Any]) -> Iterator[str]:
    for name, arguments in calls:
        schema = tools.get(name)
        if not isinstance(schema, dict) or not isinstance(arguments, str):
            continue
        try:
            value = orjson.loads(arguments)
        except orjson.JSONDecodeError:
            yield "invalid_tool_arguments"
            return
        if not _valid(value, schema):
            yield "invalid_tool_arguments"
            return


def _valid(value: Any, schema: dict[str, Any]) -> bool:
    """Validate against the request's own schema; a schema we cannot use passes."""
    import jsonschema  # imported on first use: most calls carry no schema

    try:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
    except jsonschema.SchemaError:
        return True
    return bool(cls(schema).is_valid(value))


def _list(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
