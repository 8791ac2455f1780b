"""Server-sent-event taps: watch a stream pass by and decode only what matters.

Chunks are forwarded untouched; the tap keeps only the bytes of the event
being assembled, cuts complete events at blank lines (never at chunk
boundaries, since a large ``response.completed`` is often split across TCP
reads) and decodes just the few events the gateway needs. Everything else is
skipped with a prefix check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.guardrails.toolcalls import streamed_names


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
            self._sep = _separator(data)
            if not self._sep:
                self._rest = data
                return []
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


def _separator(data: bytes) -> bytes:
    """The blank line that ends events, fixed by the first line ending (b"" before one)."""
    newline = data.find(b"\n")
    if newline == -1:
        return b""
    return b"\r\n\r\n" if newline > 0 and data[newline - 1] == 0x0D else b"\n\n"


_DIGITS = re.compile(rb" ?(\d+)")


def _tail(data: bytes, end: int, sep: bytes) -> tuple[list[bytes], int]:
    """The wanted blocks among the newest complete ones (oldest first), and where the look
    stopped: at the first ordinary event from the end (comments and blank blocks are passed)."""
    found: list[bytes] = []
    stop = end
    while True:
        start = data.rfind(sep, 0, stop)
        start = 0 if start == -1 else start + len(sep)
        block = data[start:stop]
        if block.startswith(_RESPONSES_WANTED):
            found.append(block)
        elif block and not block.startswith(b":"):
            break
        if start == 0:
            break
        stop = start - len(sep)
    found.reverse()
    return found, start


def _head(data: bytes, reached: int, sep: bytes) -> bytes | None:
    """The stream's first event, if wanted and not already in the tail (which began at
    ``reached``): comments and blank blocks before it are passed."""
    start = 0
    while start < reached:
        stop = data.find(sep, start)
        block = data[start:stop]
        if block and not block.startswith(b":"):
            return block if block.startswith(_RESPONSES_WANTED) else None
        start = stop + len(sep)
    return None


def event_data(block: bytes) -> bytes:
    """The joined ``data:`` payload of one event block."""
    at = block.find(b"data:")
    if (
        at != -1
        and (at == 0 or block[at - 1] == 0x0A)
        and block.find(b"\n", at) == -1  # one data line, and the last: the usual event
        and not block.endswith(b"\r")
    ):
        return block[at + 5 :].lstrip(b" ")
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
    tool_names: list[str] = field(default_factory=list)  # Chat: streamed tool calls' names


# The events the Responses tap decodes (their ``event:`` line starts the block).
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
_SEQUENCE = b'"sequence_number":'
_RESPONSES_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ResponsesTap:
    """Responses API SSE: the id from ``response.created``, usage from the terminal event."""

    strip_usage = False

    def __init__(self) -> None:
        self._rest = b""
        self._sep = b""
        self._counted = 0  # events, counted by separators while no sequence numbers were seen
        self._sequenced = False
        self._started = False  # the stream's first complete event was looked at
        self.facts = StreamFacts()

    def filter(self, chunk: bytes) -> bytes:
        self.feed(chunk)
        return chunk

    def feed(self, chunk: bytes) -> None:
        """Decode the events that matter, found without splitting the stream into events.

        Those are the first event (``response.created``) and the last ones
        (the terminal event, or ``error``): a Responses stream starts with the
        one and ends with the other. So each chunk costs a look at the first
        complete event of the stream and at the newest complete events, and the
        number of events so far is the newest one's ``sequence_number`` + 1
        (separators are counted only for an upstream without them).
        """
        data = self._rest + chunk if self._rest else chunk
        sep = self._sep or _separator(data)
        end = data.rfind(sep) if sep else -1
        if end == -1:
            self._rest = data
            return
        self._sep = sep
        self._rest = data[end + len(sep) :]
        tail, reached = _tail(data, end, sep)
        if not self._started:
            self._started = True
            head = _head(data, reached, sep)
            if head is not None:
                tail.insert(0, head)
        for block in tail:
            self._decode(event_data(block))
        self._count(data, end, sep)

    def _count(self, data: bytes, end: int, sep: bytes) -> None:
        at = data.rfind(_SEQUENCE, 0, end)
        if at != -1:
            digits = _DIGITS.match(data, at + len(_SEQUENCE))
            if digits is not None:
                self._sequenced = True
                self.facts.events = int(digits[1]) + 1
                return
        if not self._sequenced:
            self._counted += data.count(sep, 0, end + len(sep))
            self.facts.events = self._counted

    def _decode(self, payload: bytes) -> None:
        data = json_object(payload)
        if data is None:
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


# A Chat chunk that may start a tool call (its first delta names the function).
_STARTS_CALL = re.compile(rb'"(?:tool_calls|function_call)"')


class ChatTap:
    """Chat Completions SSE: usage from the final ``choices: []`` chunk, and ``[DONE]``.

    With ``strip_usage`` (the gateway asked for usage the client did not),
    :meth:`filter` returns the stream the client would have had: without that
    extra chunk, and without the ``"usage": null`` the upstream then adds to every
    other chunk; otherwise byte for byte.
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
        return b"".join(
            without_null_usage(block) + sep for block in blocks if block is not usage_block
        )

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
            if b'"name"' in payload and _STARTS_CALL.search(payload):
                facts.tool_names += streamed_names(payload)
        facts.events = self._split.count
        return usage_block

    def _decode(self, payload: bytes) -> bool:
        """Note what the chunk says; True when it is the usage-only chunk."""
        data = json_object(payload)
        if data is None:
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


# How the upstream writes the `"usage": null` that asking for usage adds to every chunk (as
# the last key: compact, as OpenAI sends it, or with spaces).
_NULL_USAGE = (b',"usage":null', b', "usage": null')


def without_null_usage(block: bytes) -> bytes:
    """The chunk as it would have been had the client's request not been given
    ``include_usage``: one byte-level cut of the known serialisation, no re-encoding."""
    for form in _NULL_USAGE:
        i = block.find(form)
        if i != -1:
            return block[:i] + block[i + len(form) :]
    return block


def json_object(payload: bytes | str) -> dict[str, Any] | None:
    """A JSON object, or None for anything else (not JSON, or not an object)."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _has_usage(payload: bytes) -> bool:
    i = payload.find(b'"usage":')
    if i == -1:
        return False
    i += 8
    while payload[i : i + 1] in (b" ", b"\t"):
        i += 1
    return not payload.startswith(b"null", i)


class UsageEventTap:
    """Streams whose events each carry a ``type`` and whose final one carries ``usage``
    (images, speech, transcriptions): every event with usage or an error is decoded."""

    strip_usage = False

    def __init__(self, terminal_suffixes: tuple[str, ...] = (".completed", ".done")) -> None:
        self._split = SseSplitter()
        self._terminal = terminal_suffixes
        self.facts = StreamFacts()

    def feed(self, chunk: bytes) -> None:
        facts = self.facts
        for block in self._split.feed(chunk):
            payload = event_data(block)
            if not (_has_usage(payload) or b'"error"' in payload):
                continue
            data = json_object(payload)
            if data is None:
                continue
            kind = data.get("type")
            if isinstance(data.get("error"), dict):
                facts.error = data["error"]
            elif isinstance(data.get("usage"), dict):
                facts.usage = data["usage"]
                if isinstance(kind, str) and kind.endswith(self._terminal):
                    facts.terminal = kind
        facts.events = self._split.count

    def filter(self, chunk: bytes) -> bytes:
        self.feed(chunk)
        return chunk
