"""A Responses API event stream, re-told as the Chat Completions chunks the client expects.

The tap reads every event (a Responses tap beside it keeps the facts metering
needs) and makes the chunks: the role first, then content, refusal and tool
call deltas (a call's index, id and name first, then its argument pieces),
a last chunk with ``finish_reason``, the usage chunk when the client asked
for it, and ``data: [DONE]``.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.bridge.responses_to_chat import chat_id, chat_usage, created, finish_reason
from gateway.shapes.sse import ResponsesTap, SseSplitter, StreamFacts, event_data, json_object

_TERMINAL = ("response.completed", "response.incomplete", "response.failed")


class BridgeTap:
    """``strip_usage`` is the client's not having asked for usage; the tap's output is
    always made, never the upstream's bytes, so the relay runs :meth:`filter` on it."""

    def __init__(self, strip_usage: bool) -> None:
        self.include_usage = not strip_usage
        self.strip_usage = True  # the relay must filter: nothing passes untranslated
        self._facts = ResponsesTap()
        self.facts: StreamFacts = self._facts.facts
        self._split = SseSplitter()
        self._head: dict[str, Any] = {}
        self._calls: dict[int, int] = {}  # output_index -> tool call index

    def feed(self, chunk: bytes) -> None:
        self.filter(chunk)

    def filter(self, chunk: bytes) -> bytes:
        self._facts.feed(chunk)
        out = []
        for block in self._split.feed(chunk):
            event = json_object(event_data(block))
            if event is not None:
                out.extend(self.translate(event))
        return b"".join(b"data: " + c + b"\n\n" for c in out)

    def translate(self, event: dict[str, Any]) -> list[bytes]:
        """The chunks one event becomes (none for most)."""
        kind = event.get("type")
        if kind == "response.created":
            response = event.get("response") or {}
            self._head = {
                "id": chat_id(response.get("id")),
                "object": "chat.completion.chunk",
                "created": created(response),
                "model": response.get("model", ""),
            }
            return [self._chunk({"role": "assistant", "content": "", "refusal": None})]
        if kind == "response.output_text.delta":
            return [self._chunk({"content": event.get("delta", "")})]
        if kind == "response.refusal.delta":
            return [self._chunk({"refusal": event.get("delta", "")})]
        if kind == "response.output_item.added":
            return self._call_started(event)
        if kind == "response.function_call_arguments.delta":
            index = self._calls.get(event.get("output_index", -1))
            if index is None:
                return []
            call = {"index": index, "function": {"arguments": event.get("delta", "")}}
            return [self._chunk({"tool_calls": [call]})]
        if kind in _TERMINAL:
            return self._ended(event.get("response") or {})
        if kind == "error":
            # The event's `type` names the event: the error's kind is not said, only its code.
            error = {k: event.get(k) for k in ("message", "param", "code")}
            error["type"] = "server_error"
            return [orjson.dumps({"error": error})]
        return []

    def _call_started(self, event: dict[str, Any]) -> list[bytes]:
        item = event.get("item") or {}
        if item.get("type") != "function_call":
            return []
        index = self._calls[event.get("output_index", -1)] = len(self._calls)
        self.facts.tool_names.append(str(item.get("name")))
        function = {"name": item.get("name"), "arguments": ""}
        call = {"index": index, "id": item.get("call_id"), "type": "function", "function": function}
        return [self._chunk({"tool_calls": [call]})]

    def _ended(self, response: dict[str, Any]) -> list[bytes]:
        if response.get("status") == "failed":
            error = response.get("error") or {"message": "The response failed upstream."}
            return [orjson.dumps({"error": error})]
        reason = finish_reason(response, bool(self._calls))
        out = [self._chunk({}, reason)]
        if self.include_usage:
            usage = chat_usage(response.get("usage"))
            out.append(orjson.dumps({**self._head, "choices": [], "usage": usage}))
        return [*out, b"[DONE]"]

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        chunk = {**self._head, "choices": [choice]}
        if self.include_usage:  # as OpenAI sends it: null on every chunk but the last
            chunk["usage"] = None
        return orjson.dumps(chunk)
