"""Header hygiene between client and upstream, as pure functions.

Going up, the client's credential and org/project selectors are dropped (the
gateway's own key is set instead) along with hop-by-hop headers. Coming down,
only an allow-list passes, so the organisation's name never reaches a tenant;
the account's rate limits reach a tenant only when it has none of its own (a
rate-aware client then paces itself on what the upstream says).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

_DROP_UP = frozenset(
    {
        "authorization",
        "openai-organization",
        "openai-project",
        "host",
        "content-length",
        "accept-encoding",  # the upstream client negotiates its own encoding
        "cookie",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)

_DROP_UP_RAW = frozenset(name.encode() for name in _DROP_UP)

_PASS_DOWN = frozenset(
    {
        "content-type",
        "openai-version",
        "openai-processing-ms",
        "retry-after",
        "retry-after-ms",
        "x-should-retry",
        "cache-control",
    }
)


def upstream_request_headers(
    client_headers: Iterable[tuple[bytes, bytes]], api_key: str | None
) -> dict[str, str]:
    """Headers to send upstream for a client request (ASGI raw header pairs)."""
    out: dict[str, str] = {}
    extra_drop: list[str] = []
    for raw_name, raw_value in client_headers:
        raw_name = raw_name.lower()  # ASGI servers lowercase names; a credential must not slip
        # x-gateway-*: the gateway's own (route hints, tags), no business of the upstream's.
        if raw_name in _DROP_UP_RAW or raw_name.startswith((b"proxy-", b"x-gateway-")):
            if raw_name == b"connection":
                extra_drop += (t.strip().lower() for t in raw_value.decode("latin-1").split(","))
            continue
        out[raw_name.decode("latin-1")] = raw_value.decode("latin-1")
    for name in extra_drop:
        out.pop(name, None)
    if api_key:
        out["authorization"] = f"Bearer {api_key}"
    return out


def client_response_headers(
    upstream_headers: Mapping[str, str], *, rate_limits: bool = False
) -> list[tuple[bytes, bytes]]:
    """Headers to return to the client from an upstream response; ``rate_limits`` passes
    the upstream's ``x-ratelimit-*`` (for a tenant with no limits of its own to show)."""
    out: list[tuple[bytes, bytes]] = []
    for name, value in upstream_headers.items():
        lname = name.lower()
        if lname in _PASS_DOWN or (rate_limits and lname.startswith("x-ratelimit-")):
            out.append((lname.encode(), value.encode("latin-1")))
        elif lname == "x-request-id":  # OpenAI's id: what a ticket to OpenAI needs
            out.append((b"x-request-id", value.encode("latin-1")))
    return out
