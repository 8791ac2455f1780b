"""Server-sent-event taps: watch a stream pass by and decode only what matters.

Chunks are forwarded untouched; the tap keeps only the bytes of the event
being assembled, cuts complete events at blank lines (never at chunk
boundaries, since a large ``response.completed`` is often split across TCP
reads) and decodes just the few events the gateway needs. Everything else is
skipped with a prefix check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


class SseSplitter:
    """Cuts a byte stream into complete SSE event blocks.

    The line ending is fixed by the first line (``\n`` or ``\r\n``).
    The unfinished tail never contains a separator, so only the bytes near
    its end are searched again; complete blocks are cut by ``bytes.split`` in
    C. With ``wanted`` prefixes, only blocks starting with one are returned;
    the rest are just counted.
    """

    __slots__ = ("_rest", "_sep", "count")

    def __init__(self) -> None:
        self._rest = b""
        self._sep = b""
        self.count = 0

    def feed(self, chunk: bytes, wanted: tuple[bytes, ...] | None = None) -> list[bytes]:
        rest = self._rest
        data = rest + chunk if rest else chunk
        if not self._sep:
            newline = data.find(b"\n")
            if newline == -1:
                self._rest = data
                return []
            crlf = newline > 0 and data[newline - 1] == 0x0D
            self._sep = b"\r\n\r\n" if crlf else b"\n\n"
        sep = self._sep
        if data.find(sep, max(0, len(rest) - len(sep) + 1)) == -1:
            self._rest = data
            return []
        blocks = data.split(sep)
        self._rest = blocks.pop()
        self.count += len(blocks)
        if wanted is None:
            return blocks
        return [b for b in blocks if b.startswith(wanted)]

    @property
    def pending(self) -> int:
        return len(self._rest)

    @property
    def separator(self) -> bytes:
        return self._sep


def event_data(block: bytes) -> bytes:
    """The joined ``data:`` payload of one event block."""
    parts = [
        line[5:].lstrip(b" ")
        for line in block.replace(b"\r\n", b"\n").split(b"\n")
        if line.startswith(b"data:")
    ]
    return b"\n".join(parts)


@dataclass
class StreamFacts:
    """What a tap learnt from a stream; complete only if ``terminal`` is set."""

    response_id: str | None = None
    model: str | None = None
    usage: dict[str, Any] | None = None
    terminal: str | None = None  # e.g. response.completed, or "[DONE]" for chat
    status: str | None = None
    error: dict[str, Any] | None = None
    events: int = 0
    service_tier: str | None = None
    response: dict[str, Any] | None = None  # the terminal event's full response (Responses)


_RESPONSES_WANTED = tuple(
    prefix + name
    for prefix in (b"event: ", b"event:")
    for name in (
        b"response.created",
        b"response.completed",
        b"response.incomplete",
        b"response.failed",
        b"error",
    )
)
_RESPONSES_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ResponsesTap:
    """Responses API SSE: the id from ``response.created``, usage from the terminal event."""

    strip_usage = False

    def __init__(self) -> None:
        self._split = SseSplitter()
        self.facts = StreamFacts()

    def filter(self, chunk: bytes) -> bytes:
        self.feed(chunk)
        return chunk

    def feed(self, chunk: bytes) -> None:
        for block in self._split.feed(chunk, _RESPONSES_WANTED):
            self._decode(block)
        self.facts.events = self._split.count

    def _decode(self, block: bytes) -> None:
        try:
            data = orjson.loads(event_data(block))
        except orjson.JSONDecodeError:
            return
        if not isinstance(data, dict):
            return
        kind = data.get("type")
        facts = self.facts
        if kind == "error":
            err = data.get("error")
            facts.error = err if isinstance(err, dict) else data
            return
        response = data.get("response")
        if not isinstance(response, dict):
            return
        if facts.response_id is None and isinstance(response.get("id"), str):
            facts.response_id = response["id"]
        if isinstance(response.get("model"), str):
            facts.model = response["model"]
        if kind in _RESPONSES_TERMINAL:
            facts.terminal = kind
            facts.response = response
            facts.status = response.get("status")
            tier = response.get("service_tier")
            facts.service_tier = tier if isinstance(tier, str) else None
            usage = response.get("usage")
            facts.usage = usage if isinstance(usage, dict) else None


class ChatTap:
    """Chat Completions SSE: usage from the final ``choices: []`` chunk, and ``[DONE]``.

    With ``strip_usage`` (the gateway asked for usage the client did not),
    :meth:`filter` returns the stream without that extra chunk: whole events,
    byte for byte, minus one.
    """

    def __init__(self, strip_usage: bool = False) -> None:
        self._split = SseSplitter()
        self.facts = StreamFacts()
        self.strip_usage = strip_usage

    def feed(self, chunk: bytes) -> None:
        self._observe(self._split.feed(chunk))

    def filter(self, chunk: bytes) -> bytes:
        blocks = self._split.feed(chunk)
        usage_block = self._observe(blocks)
        sep = self._split.separator
        return b"".join(block + sep for block in blocks if block is not usage_block)

    def _observe(self, blocks: list[bytes]) -> bytes | None:
        facts = self.facts
        usage_block = None
        for block in blocks:
            payload = event_data(block)
            if payload == b"[DONE]":
                facts.terminal = "[DONE]"
            elif (
                facts.response_id is None or b'"error"' in payload or _has_usage(payload)
            ) and self._decode(payload):
                usage_block = block
        facts.events = self._split.count
        return usage_block

    def _decode(self, payload: bytes) -> bool:
        """Note what the chunk says; True when it is the usage-only chunk."""
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(data, dict):
            return False
        facts = self.facts
        if isinstance(data.get("error"), dict):
            facts.error = data["error"]
            return False
        if facts.response_id is None and isinstance(data.get("id"), str):
            facts.response_id = data["id"]
            if isinstance(data.get("model"), str):
                facts.model = data["model"]
            tier = data.get("service_tier")
            facts.service_tier = tier if isinstance(tier, str) else None
        usage = data.get("usage")
        if isinstance(usage, dict):
            facts.usage = usage
            return data.get("choices") == []
        return False


def _has_usage(payload: bytes) -> bool:
    i = payload.find(b'"usage":')
    if i == -1:
        return False
    i += 8
    while payload[i : i + 1] in (b" ", b"\t"):
        i += 1
    return not payload.startswith(b"null", i)
