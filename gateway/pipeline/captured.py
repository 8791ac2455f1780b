"""A downstream that keeps the answer: for the gateway's own calls through the pipeline
(a moderation pre-check, a shadow call), whose answers go to no client."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from gateway.api.asgi import Headers, Message, Scope
from gateway.pipeline.context import RequestContext


@dataclass(slots=True)
class Captured:
    """`gateway.pipeline.http.Downstream`, keeping the status and the body sent."""

    ctx: RequestContext
    scope: Scope = field(
        default_factory=lambda: {
            "headers": [(b"content-type", b"application/json")],
            "query_string": b"",
        }
    )
    headers: Headers = field(default_factory=list)
    span: Any = None
    status: int = 0
    body: bytearray = field(default_factory=bytearray)

    async def receive(self) -> Message:
        await asyncio.Event().wait()  # nobody disconnects from the gateway's own call
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        else:
            self.body += message.get("body", b"")
