"""Baseline: the thinnest useful ASGI reverse proxy, on one shared ``httpx.AsyncClient``.

Same behaviour as ``passthrough_aiohttp.py`` (forward everything but hop-by-hop headers,
``host`` and the client's ``authorization``; add the upstream key; stream the body back with
``aiter_raw()``), on httpx's default transport. Run with::

    BENCH_UPSTREAM=http://127.0.0.1:8080 uvicorn passthrough_httpx:app --app-dir bench \\
        --loop uvloop --http httptools --no-access-log
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:8080").rstrip("/")
AUTHORIZATION = f"Bearer {os.environ.get('BENCH_API_KEY', 'sk-bench-key')}".encode()
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)
# content-length is recomputed by the client from the body we pass.
REQUEST_DROP = HOP_BY_HOP | {b"host", b"authorization", b"content-length"}

_client: httpx.AsyncClient | None = None


async def _lifespan(receive: Receive, send: Send) -> None:
    global _client
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            # Keep every connection alive (httpx's default keeps only 20 idle ones, which
            # would make this baseline reconnect under 64 concurrent requests).
            _client = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=256, max_keepalive_connections=256),
                timeout=httpx.Timeout(600.0),
            )
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if _client is not None:
                await _client.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _error(send: Send, status: int, text: str) -> None:
    body = json.dumps({"error": {"message": text, "type": "proxy_error"}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    assert _client is not None, "lifespan startup did not run"

    url = UPSTREAM + scope["raw_path"].decode("latin-1")
    if scope["query_string"]:
        url += "?" + scope["query_string"].decode("latin-1")
    headers = [(name, value) for name, value in scope["headers"] if name not in REQUEST_DROP]
    headers.append((b"authorization", AUTHORIZATION))
    body = await _read_body(receive)

    request = _client.build_request(scope["method"], url, headers=headers, content=body)
    try:
        resp = await _client.send(request, stream=True)
    except httpx.HTTPError as exc:
        await _error(send, 502, f"upstream: {type(exc).__name__}")
        return
    try:
        await send(
            {
                "type": "http.response.start",
                "status": resp.status_code,
                "headers": [
                    (name, value)
                    for name, value in resp.headers.raw
                    if name.lower() not in HOP_BY_HOP
                ],
            }
        )
        async for chunk in resp.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    finally:
        await resp.aclose()
