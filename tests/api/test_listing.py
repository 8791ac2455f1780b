"""Lists cut down to the caller's objects still paginate: limit, after and has_more hold."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gateway.api.listing import MAX_PAGES, PAGE_SIZE, UpstreamPage, list_owned


class Upstream:
    """A list endpoint over ids 0..n-1 (every third one is alpha's), in pages of the limit."""

    def __init__(self, n: int, owner_of: dict[str, str]) -> None:
        self.ids = [f"obj_{i:04d}" for i in range(n)]
        self.owner_of = owner_of
        self.calls: list[dict[str, str]] = []

    async def fetch(self, query: dict[str, str]) -> UpstreamPage:
        self.calls.append(query)
        start = self.ids.index(query["after"]) + 1 if "after" in query else 0
        page = self.ids[start : start + int(query["limit"])]
        more = start + len(page) < len(self.ids)
        body = {"object": "list", "data": [{"id": i} for i in page], "has_more": more}
        return UpstreamPage(200, body)

    async def owners_of(self, ids: Sequence[str]) -> dict[str, str]:
        return {i: self.owner_of[i] for i in ids if i in self.owner_of}


def every_third(n: int) -> dict[str, str]:
    return {f"obj_{i:04d}": "alpha" if i % 3 == 0 else "beta" for i in range(n)}


def test_pages_hold_only_the_callers_objects_and_follow_on() -> None:
    upstream = Upstream(300, every_third(300))
    seen: list[str] = []
    query: dict[str, str] = {"limit": "7"}
    while True:
        page = asyncio.run(list_owned(upstream.fetch, upstream.owners_of, "alpha", query))
        assert page.status == 200
        assert page.body is not None
        ids = [o["id"] for o in page.body["data"]]
        assert len(ids) <= 7
        assert page.body["first_id"] == (ids[0] if ids else None)
        assert page.body["last_id"] == (ids[-1] if ids else None)
        seen += ids
        if not page.body["has_more"]:
            break
        query = {"limit": "7", "after": ids[-1]}
    assert seen == [f"obj_{i:04d}" for i in range(0, 300, 3)]


def test_has_more_is_false_exactly_at_the_end() -> None:
    upstream = Upstream(9, every_third(9))  # alpha owns 0, 3, 6
    page = asyncio.run(list_owned(upstream.fetch, upstream.owners_of, "alpha", {"limit": "3"}))
    assert page.body is not None
    assert [o["id"] for o in page.body["data"]] == ["obj_0000", "obj_0003", "obj_0006"]
    assert page.body["has_more"] is False


def test_a_tenant_with_nothing_gets_an_empty_page() -> None:
    upstream = Upstream(50, every_third(50))
    page = asyncio.run(list_owned(upstream.fetch, upstream.owners_of, "gamma", {}))
    assert page.body is not None
    assert (page.body["data"], page.body["has_more"], page.body["last_id"]) == ([], False, None)


def test_a_long_scan_stops_and_says_there_is_more() -> None:
    n = PAGE_SIZE * (MAX_PAGES + 5)
    upstream = Upstream(n, {f"obj_{n - 1:04d}": "alpha"})
    page = asyncio.run(list_owned(upstream.fetch, upstream.owners_of, "alpha", {"limit": "5"}))
    assert len(upstream.calls) == MAX_PAGES
    assert page.body is not None
    assert page.body["has_more"] is True


def test_client_filters_pass_through_and_the_page_size_is_the_gateways() -> None:
    upstream = Upstream(10, every_third(10))
    asyncio.run(list_owned(upstream.fetch, upstream.owners_of, "alpha", {"purpose": "batch"}))
    assert upstream.calls[0] == {"purpose": "batch", "limit": str(PAGE_SIZE)}


def test_an_upstream_error_is_returned_as_it_came() -> None:
    async def failing(query: dict[str, str]) -> UpstreamPage:
        return UpstreamPage(500, None)

    async def nobody(ids: Sequence[str]) -> dict[str, str]:
        return {}

    page = asyncio.run(list_owned(failing, nobody, "alpha", {}))
    assert (page.status, page.body) == (500, None)
