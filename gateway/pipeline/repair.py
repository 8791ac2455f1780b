"""The "fix JSON" remedy: the same model again, shown its broken answer and what is wrong.

A small model's structured output usually fails on a stray word or a missing
field; asked once more with its own answer and the error, it often gets it
right at its own price (a longer input), where the next rung costs a larger
model's. The route chooses (``on_invalid_json``); `decide` says when.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from gateway.metering.outcome import Outcome

Amend = Callable[[dict[str, Any]], None]

INSTRUCTION = (
    "Your previous answer was not valid JSON for the required schema: {error}. "
    "Reply again with only the corrected JSON."
)
_MAX_ERROR = 200  # characters of the error the model is shown: enough to locate it


def amendment(endpoint: str, outcome: Outcome, sent: dict[str, Any], reason: str | None) -> Amend:
    """What the repair attempt adds to the client's request: the answer, then the instruction.

    ``sent`` is the body the failed attempt sent (its schema is the one to meet).
    """
    answer = outcome.body
    if answer is None and outcome.facts is not None:
        answer = outcome.facts.response  # a buffered Responses stream
    chat = endpoint == "chat.completions"
    previous = (_chat_text if chat else _responses_text)(answer or {})
    error = _error(previous, _schema(sent, chat), reason)
    turns = [
        {"role": "assistant", "content": previous},
        {"role": "user", "content": INSTRUCTION.format(error=error)},
    ]

    def amend(body: dict[str, Any]) -> None:
        if chat:
            messages = body.get("messages")
            body["messages"] = [*(messages if isinstance(messages, list) else []), *turns]
            return
        given = body.get("input")
        if isinstance(given, str):
            items: list[Any] = [{"role": "user", "content": given}]
        else:
            items = list(given) if isinstance(given, list) else []
        body["input"] = [*items, *turns]

    return amend


def _responses_text(resp: dict[str, Any]) -> str:
    texts = []
    for item in _dicts(resp.get("output")):
        if item.get("type") == "message":
            for part in _dicts(item.get("content")):
                if part.get("type") == "output_text" and isinstance(part.get("text"), str):
                    texts.append(part["text"])
    return "".join(texts)


def _chat_text(resp: dict[str, Any]) -> str:
    choices = _dicts(resp.get("choices"))
    message = choices[0].get("message") if choices else None
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else ""


def _schema(sent: dict[str, Any], chat: bool) -> dict[str, Any] | None:
    if chat:
        fmt = sent.get("response_format")
        inner = fmt.get("json_schema") if isinstance(fmt, dict) else None
        schema = inner.get("schema") if isinstance(inner, dict) else None
    else:
        text = sent.get("text")
        fmt = text.get("format") if isinstance(text, dict) else None
        schema = fmt.get("schema") if isinstance(fmt, dict) else None
    return schema if isinstance(schema, dict) else None


def _error(text: str, schema: dict[str, Any] | None, reason: str | None) -> str:
    """The parser's or the validator's own words, short: what the model has to fix."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return _short(str(exc))
    if schema is not None:
        import jsonschema  # imported on first use, as classify does

        try:
            best = jsonschema.exceptions.best_match(
                jsonschema.validators.validator_for(schema)(schema).iter_errors(value)
            )
        except jsonschema.SchemaError:
            best = None
        if best is not None:
            where = "/".join(str(p) for p in best.absolute_path)
            return _short(f"{best.message} (at /{where})" if where else best.message)
    return reason or "invalid_json"


def _short(error: str) -> str:
    return error if len(error) <= _MAX_ERROR else error[: _MAX_ERROR - 1] + "…"


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
