"""Raw ASGI primitives for the hot-path handlers: read a bounded body, send a response."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.errors import BadRequest, GatewayError, PayloadTooLarge, RequestTimeout
from gateway.errors.wire import http_headers, json_body

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON = b"application/json"


def header(scope: Scope, name: bytes) -> bytes | None:
    for k, v in scope["headers"]:
        if k == name:
            return v  # type: ignore[no-any-return]
    return None


async def read_body(scope: Scope, receive: Receive, limit: int, timeout_s: float = 30) -> bytes:
    """The whole request body, within ``limit`` bytes and (past its first part) ``timeout_s``.

    Most bodies arrive in one message and pay for no timer; a body that trickles in
    (slowloris) gets 408 instead of holding a worker's request forever.
    """
    declared = header(scope, b"content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _too_large(limit)
        except ValueError:
            raise BadRequest("Invalid Content-Length header.") from None
    message = await receive()
    first = _body_part(message, 0, limit)
    if not message.get("more_body", False):
        return first
    chunks, size = [first], len(first)
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                message = await receive()
                chunk = _body_part(message, size, limit)
                size += len(chunk)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError:
        raise RequestTimeout(  # the rest of the body would be garbage on this connection
            f"The request body did not arrive within {timeout_s:g} s.",
            code="request_timeout",
            headers={"connection": "close"},
        ) from None


def _body_part(message: dict[str, Any], size: int, limit: int) -> bytes:
    if message["type"] == "http.disconnect":
        raise ClientGone
    chunk: bytes = message.get("body", b"")
    if size + len(chunk) > limit:
        raise _too_large(limit)
    return chunk


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than the gateway's limit of {limit} bytes.",
        code="request_too_large",
    )


class ClientGone(Exception):
    """The client disconnected before the gateway could answer."""


async def send_response(
    send: Send, status: int, body: bytes, headers: Headers, content_type: bytes = JSON
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, err: GatewayError, headers: Headers) -> None:
    await send_response(send, err.status, json_body(err), headers + http_headers(err))
