"""A miss's answer, copied as it goes to the client, and whether it may be kept.

Only a complete success is kept: a 200 whose JSON body is a finished answer,
or a stream that reached its terminal event (``response.completed``, Chat's
``[DONE]``) with no error event on the way. A failed, cut or abandoned stream,
an answer past the tenant's ``max_entry_bytes``, any error: not kept.
"""

from __future__ import annotations

from typing import Any

from gateway.api.asgi import Headers, Message, Receive, Scope, Send
from gateway.pipeline.context import RequestContext
from gateway.pipeline.http import Downstream
from gateway.shapes.endpoint import Endpoint
from gateway.shapes.sse import json_object

_COMPLETE = frozenset({"response.completed", "[DONE]"})


class Recording:
    """The client's side of an exchange (`Downstream`), keeping a copy of the body sent."""

    __slots__ = ("_down", "_limit", "_parts", "_size", "status")

    def __init__(self, down: Downstream, limit: int) -> None:
        self._down = down
        self._limit = limit
        self._parts: list[bytes] | None = []  # None: past the limit, not kept
        self._size = 0
        self.status = 0

    @property
    def ctx(self) -> RequestContext:
        return self._down.ctx

    @property
    def scope(self) -> Scope:
        return self._down.scope

    @property
    def receive(self) -> Receive:
        return self._down.receive

    @property
    def send(self) -> Send:
        return self._send

    @property
    def headers(self) -> Headers:
        return self._down.headers

    @property
    def span(self) -> Any:
        return self._down.span

    async def _send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif self._parts is not None:
            body = message.get("body", b"")
            self._size += len(body)
            if self._size > self._limit:
                self._parts = None
            elif body:
                self._parts.append(body)
        await self._down.send(message)

    @property
    def body(self) -> bytes | None:
        """Everything sent so far, or None once past the limit."""
        return None if self._parts is None else b"".join(self._parts)

    def kept(self, endpoint: Endpoint, stream: bool) -> bytes | None:
        """The answer's bytes if it is a complete success within the limit, else None."""
        ctx = self._down.ctx
        if self.status != 200 or self._parts is None or ctx.error_code or ctx.client_gone:
            return None
        body = b"".join(self._parts)
        return body if _finished(endpoint, body, stream) else None


def _finished(endpoint: Endpoint, body: bytes, stream: bool) -> bool:
    if not stream:
        answer = json_object(body)
        return answer is not None and answer.get("status", "completed") == "completed"
    if endpoint.new_tap is None:
        return False
    tap = endpoint.new_tap(False)
    tap.feed(body)
    return tap.facts.terminal in _COMPLETE and tap.facts.error is None
