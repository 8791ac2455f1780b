"""Which requests may be answered from the cache, and the key they are kept under (pure).

A replay must be indistinguishable from what the client could have got, and
must not skip a side effect upstream. So only Responses and Chat Completions
calls that create nothing upstream: Responses only with `store: false` (the API
stores by default, and a replay would not create the stored object the client
could then read), Chat without `store: true`; nothing stateful
(`previous_response_id`, `conversation`, `background`, a stored `prompt`);
no hosted tools (web search, file search, MCP... answer from the world as it
is now); nothing fetched by URL (the resource behind it may change).

Sampling (`temperature`, `top_p`) does not matter: the model's answers are not
deterministic even at 0, and a client that opts in accepts one earlier sample.

The key hashes the tenant, the endpoint, the model asked for and the whole
parsed body with sorted keys (so key order and whitespace do not matter). No
field is left out: Responses echoes most of its parameters (`metadata`,
`user`, `safety_identifier`...) in its answer, so two requests differing only
there would get a body that is not theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from hashlib import blake2b
from typing import Any

import orjson

RESPONSES, CHAT = "responses", "chat.completions"
_STATEFUL = ("background", "previous_response_id", "conversation", "prompt")
_FUNCTION_TOOLS = frozenset({"function", "custom"})
_URL_FIELDS = frozenset({"url", "image_url", "file_url", "audio_url", "video_url"})


def refusal(endpoint: str, body: Mapping[str, Any], tenant_forces_no_store: bool) -> str | None:
    """Why this request may not be cached (None: it may)."""
    if endpoint not in (RESPONSES, CHAT):
        return "endpoint"
    if any(body.get(name) for name in _STATEFUL):
        return "stateful"
    store = body.get("store")
    stored = store is not False if endpoint == RESPONSES else store is True
    if stored and not tenant_forces_no_store:
        return "store"
    tools = body.get("tools")
    if isinstance(tools, list) and any(
        not isinstance(t, dict) or t.get("type") not in _FUNCTION_TOOLS for t in tools
    ):
        return "hosted_tool"
    if _names_url(body.get("input") if endpoint == RESPONSES else body.get("messages")):
        return "url"
    return None


def cache_key(tenant: str, endpoint: str, model: str, body: Mapping[str, Any]) -> str:
    """32 hex digits of BLAKE2b over the tenant, endpoint, model and canonical body."""
    h = blake2b(digest_size=16)
    h.update(b"\0".join((tenant.encode(), endpoint.encode(), model.encode(), b"")))
    h.update(orjson.dumps(body, option=orjson.OPT_SORT_KEYS))
    return h.hexdigest()


def _names_url(value: object) -> bool:
    """A content part pointing at a resource by http(s) URL (a data: URL is inline)."""
    if isinstance(value, list):
        return any(_names_url(v) for v in value)
    if not isinstance(value, dict):
        return False
    for name, inner in value.items():
        if name in _URL_FIELDS and isinstance(inner, str):
            if inner.startswith(("http://", "https://")):
                return True
        elif isinstance(inner, dict | list) and _names_url(inner):
            return True
    return False
