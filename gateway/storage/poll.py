"""How many bytes a vector store holds, as the upstream bills them (``usage_bytes``)."""

from __future__ import annotations

from urllib.parse import quote

from gateway.errors import GatewayError
from gateway.shapes.sse import json_object
from gateway.upstream import UpstreamClient


class PollFailed(Exception):
    """The upstream gave no usable answer (down, refusing, malformed): try again later."""


async def stored_bytes(client: UpstreamClient, store_id: str) -> int | None:
    """The store's ``usage_bytes``; None when the upstream has no such store (404)."""
    path = "/vector_stores/" + quote(store_id, safe="")
    try:
        status, body = await client.fetch(path)
    except GatewayError as exc:  # transport failures, an open circuit
        raise PollFailed(f"{store_id}: {exc}") from exc
    if status == 404:
        return None
    if status != 200:
        raise PollFailed(f"{store_id}: HTTP {status}")
    answer = json_object(body)
    if answer is None:
        raise PollFailed(f"{store_id}: the answer is not a JSON object")
    usage = answer.get("usage_bytes")
    if not isinstance(usage, int) or isinstance(usage, bool) or usage < 0:
        raise PollFailed(f"{store_id}: no usage_bytes in the answer")
    return usage
