"""What a client sees when the upstream answers with an error, as a pure function.

OpenAI errors pass through with their status; two cases are rewritten:
a 401 means the *gateway's* key was refused (a misconfiguration the client
can do nothing about, and OpenAI's message quotes part of that key), and a
body that is not an OpenAI error (a proxy's HTML page) is wrapped so every
error the client sees has the OpenAI shape.
"""

from __future__ import annotations

import orjson

from gateway.errors import UpstreamError
from gateway.errors.wire import json_body


def client_error_from_upstream(
    status: int, body: bytes, api_key: str | None, upstream: str
) -> tuple[int, bytes]:
    if status == 401:
        return 502, json_body(
            UpstreamError(
                f"The upstream {upstream!r} refused the gateway's credentials; "
                "tell the gateway's operators.",
                code="upstream_auth_failed",
            )
        )
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if not (isinstance(data, dict) and isinstance(data.get("error"), dict)):
        return 502, json_body(
            UpstreamError(
                f"The upstream {upstream!r} answered HTTP {status} without an OpenAI error body.",
                code="upstream_bad_response",
            )
        )
    if api_key and api_key.encode() in body:
        body = body.replace(api_key.encode(), b"[redacted]")
    return status, body
