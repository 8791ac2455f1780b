"""Baseline: the aiohttp passthrough written as ordinary Litestar route handlers.

Same forwarding as ``passthrough_aiohttp.py`` (one shared ``aiohttp.ClientSession`` created
at startup; forward method, path, query, body and headers minus hop-by-hop, ``host`` and the
client's ``authorization``, plus ``Authorization: Bearer <upstream key>``; stream the upstream
body back chunk by chunk), but the way a team would write it in Litestar: routed handlers
taking ``request: Request``, the body read with ``await request.body()``, the headers from
``request.headers``, and a ``Stream`` response fed by ``content.iter_any()``. Comparing it
with the raw-ASGI passthrough measures what Litestar's per-request machinery costs
(routing, handler signature and kwargs, ``Request``, response conversion, disconnect
watcher). OpenAPI and logging config are off, as in the gateway. Run with::

    BENCH_UPSTREAM=http://127.0.0.1:8080 uvicorn passthrough_litestar:app --app-dir bench \\
        --loop uvloop --http httptools --no-access-log
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from litestar import Litestar, Request, Response, get, post
from litestar.response import Stream
from yarl import URL

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:8080").rstrip("/")
AUTHORIZATION = f"Bearer {os.environ.get('BENCH_API_KEY', 'sk-bench-key')}"
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# content-length is recomputed by the client from the body we pass.
REQUEST_DROP = HOP_BY_HOP | {"host", "authorization", "content-length"}


@asynccontextmanager
async def http_session(app: Litestar) -> AsyncIterator[None]:
    app.state.session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=256),
        timeout=aiohttp.ClientTimeout(total=600),
        auto_decompress=False,
    )
    try:
        yield
    finally:
        await app.state.session.close()


async def _relay(resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    # The Stream response runs this after the handler returned, so it owns the upstream
    # response: released at the end of the body, on error and on client disconnect.
    try:
        async for chunk in resp.content.iter_any():
            yield chunk
    finally:
        resp.release()


async def _forward(request: Request) -> Response[object]:
    session: aiohttp.ClientSession = request.app.state.session
    # The path and query exactly as received (as in the raw passthrough), not re-quoted.
    url = UPSTREAM + request.scope["raw_path"].decode("latin-1")
    if query := request.scope["query_string"]:
        url += "?" + query.decode("latin-1")
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in REQUEST_DROP]
    headers.append(("Authorization", AUTHORIZATION))
    body = await request.body()
    try:
        resp = await session.request(
            request.method,
            URL(url, encoded=True),
            headers=headers,
            data=body,
            allow_redirects=False,
        )
    except (aiohttp.ClientError, TimeoutError) as exc:
        error = {"message": f"upstream: {type(exc).__name__}", "type": "proxy_error"}
        return Response({"error": error}, status_code=502)
    return Stream(
        _relay(resp),
        status_code=resp.status,
        headers={k: v for k, v in resp.headers.items() if k.lower() not in HOP_BY_HOP},
    )


@post("/v1/{path:path}")
async def forward_v1(request: Request, path: str) -> Response[object]:
    return await _forward(request)


@get("/healthz")
async def forward_healthz(request: Request) -> Response[object]:
    return await _forward(request)


app = Litestar(
    route_handlers=[forward_v1, forward_healthz],
    lifespan=[http_session],
    openapi_config=None,
    logging_config=None,
)
