"""Put masked values back into the answer a client receives (``pii.restore``).

It sits on the client's ``send``, below everything that meters or judges the
answer, so usage, the ledger and escalation read what the upstream said and
only the client sees the values. A JSON answer is restored on its decoded
strings (``«`` may come as ``\\u00ab``), tool-call arguments JSON-escaped. A
stream is restored per text channel (a Chat choice's content or tool call, a
Responses output's text or arguments), holding back only a tail that may be a
placeholder cut across two events; what is held goes out with the channel's
end (Chat's ``finish_reason``, Responses' ``*.done``) or the stream's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import orjson

from gateway.api.asgi import Message, Send
from gateway.guardrails.pii.mask import OPEN, StreamRestorer, Vault, restore

_OPEN_BYTES = (OPEN.encode(), b"\\u00ab", b"\\u00AB")
Channel = tuple[Any, ...]


def restoring_send(send: Send, vault: Vault) -> Send:
    """``send``, with the answer's placeholders turned back into their values."""
    answer = _Answer(vault)

    async def restored(message: Message) -> None:
        for out in answer.messages(message):
            await send(out)

    return restored


def restore_json(value: Any, vault: Vault, *, escape: bool = False) -> Any:
    """A decoded JSON value with its strings restored (``arguments`` hold JSON text)."""
    if isinstance(value, str):
        return restore(value, vault, escape=escape)
    if isinstance(value, list):
        return [restore_json(v, vault) for v in value]
    if isinstance(value, dict):
        return {k: restore_json(v, vault, escape=k == "arguments") for k, v in value.items()}
    return value


class _Answer:
    """One HTTP answer's messages: JSON held until whole, a stream restored as it goes."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        self._start: Message | None = None
        self._body: list[bytes] = []
        self._stream: SseRestorer | None = None

    def messages(self, message: Message) -> Iterator[Message]:
        if message["type"] == "http.response.start":
            kind = dict(message.get("headers", [])).get(b"content-type", b"")
            if kind.startswith(b"text/event-stream"):
                self._stream = SseRestorer(self._vault)
            elif kind.startswith(b"application/json") and message.get("status", 200) < 400:
                self._start = message
                return
            yield message
        elif message["type"] != "http.response.body":
            yield message
        elif self._stream is not None:
            yield from self._streamed(message, self._stream)
        elif self._start is not None:
            self._body.append(message.get("body", b""))
            if not message.get("more_body", False):
                yield from self._whole(self._start, b"".join(self._body))
        else:
            yield message

    def _streamed(self, message: Message, stream: SseRestorer) -> Iterator[Message]:
        out = stream.feed(message.get("body", b""))
        last = not message.get("more_body", False)
        if last:
            out += stream.flush()
        if out or last:
            yield {**message, "body": out}

    def _whole(self, start: Message, body: bytes) -> Iterator[Message]:
        if any(b in body for b in _OPEN_BYTES):
            with contextlib.suppress(orjson.JSONDecodeError):
                body = orjson.dumps(restore_json(orjson.loads(body), self._vault))
        headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        yield {**start, "headers": headers}
        yield {"type": "http.response.body", "body": body}


class SseRestorer:
    """Restores a Chat or Responses event stream, event by event, channel by channel."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        self._pending = b""
        self._channels: dict[Channel, StreamRestorer] = {}
        self._last_chunk: dict[str, Any] | None = None  # Chat: the shape of a final flush
        self._changed = False  # the event being read was changed (and must be re-encoded)

    def feed(self, data: bytes) -> bytes:
        self._pending += data
        *events, self._pending = self._pending.split(b"\n\n")
        return b"".join(self._event(e) + b"\n\n" for e in events)

    def flush(self) -> bytes:
        """The stream ended: what is still held, as one last Chat chunk or Responses delta."""
        rest, self._pending = self._pending, b""
        return self._drain_all() + rest

    def _event(self, event: bytes) -> bytes:
        lines = event.split(b"\n")
        data = [i for i, line in enumerate(lines) if line.startswith(b"data:")]
        if len(data) != 1:
            return event
        payload = lines[data[0]][5:].strip()
        if payload == b"[DONE]":
            return self._drain_all() + event
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return event
        if not isinstance(obj, dict):
            return event
        marked = any(b in payload for b in _OPEN_BYTES)
        self._changed = marked
        if "choices" in obj:
            before = self._chat(obj)
        elif self._channels or marked or str(obj.get("type", "")).endswith(".delta"):
            before = self._responses(obj, marked)
        else:
            return event
        if not (before or self._changed):  # most events: sent as they came, not re-encoded
            return event
        lines[data[0]] = b"data: " + orjson.dumps(obj)
        return before + b"\n".join(lines)

    def _fed(self, key: Channel, text: str, *, escape: bool) -> str:
        """A delta through its channel's restorer (noting when that changed it)."""
        channel = self._channels.get(key)
        if channel is None:
            channel = self._channels[key] = StreamRestorer(self._vault, escape=escape)
        out = channel.feed(text)
        self._changed = self._changed or out != text
        return out

    def _chat(self, chunk: dict[str, Any]) -> bytes:
        self._last_chunk = chunk
        for choice in chunk.get("choices") or ():
            index = choice.get("index", 0)
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                continue
            if isinstance(delta.get("content"), str):
                delta["content"] = self._fed(("c", index), delta["content"], escape=False)
            for call in delta.get("tool_calls") or ():
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                    key = ("t", index, call.get("index", 0))
                    fn["arguments"] = self._fed(key, fn["arguments"], escape=True)
            if choice.get("finish_reason") is not None:
                self._drain_choice(index, delta)
        return b""

    def _drain_choice(self, index: int, delta: dict[str, Any]) -> None:
        """A choice ends: its held text goes in its last chunk's delta."""
        for key in [k for k in self._channels if k[1] == index]:
            held = self._channels.pop(key).flush()
            if not held:
                continue
            self._changed = True
            if key[0] == "c":
                delta["content"] = held + (delta.get("content") or "")
            else:
                call = {"index": key[2], "function": {"arguments": held}}
                delta["tool_calls"] = [*(delta.get("tool_calls") or ()), call]

    def _responses(self, event: dict[str, Any], marked: bool) -> bytes:
        kind = event.get("type")
        if not isinstance(kind, str):
            return b""
        if kind.endswith(".delta") and isinstance(event.get("delta"), str):
            key = _response_channel(kind, event)
            event["delta"] = self._fed(key, event["delta"], escape="arguments" in kind)
            return b""
        before = b""
        if kind.endswith(".done"):
            key = _response_channel(kind[: -len(".done")] + ".delta", event)
            ended = self._channels.pop(key) if key in self._channels else None
            held = ended.flush() if ended is not None else ""
            if held:
                before = _sse({**_addressing(event), "type": key[0], "delta": held})
        for field, value in list(event.items()) if marked else ():
            if field not in ("type", "delta"):
                event[field] = restore_json(value, self._vault, escape=field == "arguments")
        return before

    def _drain_all(self) -> bytes:
        out = b""
        for key, channel in list(self._channels.items()):
            held = channel.flush()
            if not held:
                continue
            if key[0] in ("c", "t") and self._last_chunk is not None:
                delta: dict[str, Any] = {}
                if key[0] == "c":
                    delta["content"] = held
                else:
                    delta["tool_calls"] = [{"index": key[2], "function": {"arguments": held}}]
                choice = {"index": key[1], "delta": delta, "finish_reason": None}
                out += _sse({**self._last_chunk, "choices": [choice]})
            elif key[0] not in ("c", "t"):
                out += _sse({"type": key[0], "output_index": key[1], "content_index": key[2],
                             "delta": held})  # fmt: skip
        self._channels.clear()
        return out


class SocketRestorer:
    """A WebSocket's events (one JSON object a message: the Responses WebSocket mode),
    restored as the same events in a stream would be."""

    def __init__(self, vault: Vault) -> None:
        self._stream = SseRestorer(vault)

    def event(self, text: str) -> list[str]:
        """The messages to send for this one: itself, changed or not, after any held text a
        channel's end releases; none while a placeholder's start is held back."""
        return _payloads(self._stream.feed(b"data: " + text.encode() + b"\n\n"))

    def flush(self) -> list[str]:
        return _payloads(self._stream.flush())


def _payloads(blocks: bytes) -> list[str]:
    return [
        line[5:].strip().decode()
        for block in blocks.split(b"\n\n")
        for line in block.split(b"\n")
        if line.startswith(b"data:")
    ]


def _response_channel(kind: str, event: dict[str, Any]) -> Channel:
    return (kind, event.get("output_index"), event.get("content_index"))


def _addressing(event: dict[str, Any]) -> dict[str, Any]:
    """Where a Responses delta goes: its item, output and content index."""
    keys = ("item_id", "output_index", "content_index", "sequence_number", "stream_id")
    return {k: event[k] for k in keys if k in event}


def _sse(obj: dict[str, Any]) -> bytes:
    kind = obj.get("type")
    head = b"event: " + kind.encode() + b"\n" if isinstance(kind, str) else b""
    return head + b"data: " + orjson.dumps(obj) + b"\n\n"
