"""How many bytes a vector store holds, as the upstream bills them (``usage_bytes``)."""

from __future__ import annotations

from urllib.parse import quote

import orjson

from gateway.errors import GatewayError
from gateway.upstream import UpstreamClient, upstream_request_headers


class PollFailed(Exception):
    """The upstream gave no usable answer (down, refusing, malformed): try again later."""


async def stored_bytes(client: UpstreamClient, store_id: str) -> int | None:
    """The store's ``usage_bytes``; None when the upstream has no such store (404)."""
    headers = upstream_request_headers((), client.upstream.api_key)
    path = "/vector_stores/" + quote(store_id, safe="")
    try:
        resp = await client.send("GET", path, b"", headers, None)
        body = await resp.read()
    except GatewayError as exc:  # transport failures, an open circuit
        raise PollFailed(f"{store_id}: {exc}") from exc
    if resp.status == 404:
        return None
    if resp.status != 200:
        raise PollFailed(f"{store_id}: HTTP {resp.status}")
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PollFailed(f"{store_id}: the answer is not JSON") from exc
    usage = answer.get("usage_bytes") if isinstance(answer, dict) else None
    if not isinstance(usage, int) or isinstance(usage, bool) or usage < 0:
        raise PollFailed(f"{store_id}: no usage_bytes in the answer")
    return usage
