"""A list endpoint cut down to the caller's objects, with pagination that still works.

Upstream, one key holds every tenant's objects, so an upstream page mixes
them. The gateway reads upstream pages (in the client's order and filters)
and keeps the caller's objects until it has one more than the client asked
for — which is how it knows ``has_more`` — or the upstream runs out. The
cursor stays the upstream's: ``after`` is always an id the client was given.
A tenant with few objects among many could make that a long scan, so it
stops after ``MAX_PAGES`` pages with ``has_more`` still true; the client's
next call carries on from the last object it got.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

PAGE_SIZE = 100  # the largest page every list endpoint accepts
MAX_PAGES = 20
DEFAULT_LIMIT = 20


@dataclass(frozen=True, slots=True)
class UpstreamPage:
    status: int
    body: dict[str, Any] | None  # the parsed list object of a 200


FetchPage = Callable[[dict[str, str]], Awaitable[UpstreamPage]]
OwnersOf = Callable[[Sequence[str]], Awaitable[dict[str, str]]]


def requested_limit(query: dict[str, str], default: int = DEFAULT_LIMIT) -> int:
    try:
        limit = int(query.get("limit", default))
    except ValueError:
        return default
    return min(max(limit, 1), 10_000)


async def list_owned(
    fetch: FetchPage, owners_of: OwnersOf, tenant: str, query: dict[str, str]
) -> UpstreamPage:
    """The caller's page: the first failing upstream page is returned as it came."""
    limit = requested_limit(query)
    mine: list[dict[str, Any]] = []
    cursor = query.get("after")
    envelope: dict[str, Any] = {"object": "list"}
    upstream_more = False
    for _ in range(MAX_PAGES):
        page = await fetch(
            {**query, "limit": str(PAGE_SIZE), **({"after": cursor} if cursor else {})}
        )
        if page.status != 200 or page.body is None:
            return page
        envelope = page.body
        data = [o for o in envelope.get("data") or () if isinstance(o, dict) and "id" in o]
        owners = await owners_of([str(o["id"]) for o in data]) if data else {}
        mine += [o for o in data if owners.get(str(o["id"])) == tenant]
        upstream_more = bool(envelope.get("has_more")) and bool(data)
        if len(mine) > limit or not upstream_more:
            break
        cursor = str(data[-1]["id"])
    out = mine[:limit]
    body = {
        **envelope,
        "data": out,
        "first_id": out[0]["id"] if out else None,
        "last_id": out[-1]["id"] if out else None,
        "has_more": len(mine) > limit or upstream_more,
    }
    return UpstreamPage(200, body)
