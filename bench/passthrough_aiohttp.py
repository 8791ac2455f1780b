"""Baseline: the thinnest useful ASGI reverse proxy, on one shared ``aiohttp.ClientSession``.

Forwards method, path, query, body and headers (minus hop-by-hop, ``host`` and the client's
``authorization``, plus ``Authorization: Bearer <upstream key>``) to ``$BENCH_UPSTREAM`` and
streams the upstream body back chunk by chunk. No framework, no parsing, no logging: the
benchmark's floor for "Python proxy on aiohttp". Run with::

    BENCH_UPSTREAM=http://127.0.0.1:8080 uvicorn passthrough_aiohttp:app --app-dir bench \\
        --loop uvloop --http httptools --no-access-log
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import aiohttp
from yarl import URL

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:8080").rstrip("/")
AUTHORIZATION = f"Bearer {os.environ.get('BENCH_API_KEY', 'sk-bench-key')}"
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

_session: aiohttp.ClientSession | None = None


async def _lifespan(receive: Receive, send: Send) -> None:
    global _session
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            _session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256),
                timeout=aiohttp.ClientTimeout(total=600),
                auto_decompress=False,
            )
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if _session is not None:
                await _session.close()
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
    assert _session is not None, "lifespan startup did not run"

    url = UPSTREAM + scope["raw_path"].decode("latin-1")
    if scope["query_string"]:
        url += "?" + scope["query_string"].decode("latin-1")
    headers = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in scope["headers"]
        if name not in REQUEST_DROP
    ]
    headers.append(("Authorization", AUTHORIZATION))
    body = await _read_body(receive)

    started = False
    try:
        async with _session.request(
            scope["method"],
            URL(url, encoded=True),
            headers=headers,
            data=body,
            allow_redirects=False,
        ) as resp:
            await send(
                {
                    "type": "http.response.start",
                    "status": resp.status,
                    "headers": [
                        (name, value)
                        for name, value in resp.raw_headers
                        if name.lower() not in HOP_BY_HOP
                    ],
                }
            )
            started = True
            async for chunk in resp.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
    except (aiohttp.ClientError, TimeoutError) as exc:
        if started:
            raise  # mid-body: let the server abort the connection
        await _error(send, 502, f"upstream: {type(exc).__name__}")
