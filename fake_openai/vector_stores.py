"""Vector stores: ``/v1/vector_stores`` create, list, retrieve, update (``POST /{id}``),
delete, and ``POST /{id}/search``. Their files and file batches are in vector_store_files.py.

Files are processed at once: attaching one completes it (or fails it, for bytes that are not
UTF-8 text), so ``file_counts`` and ``usage_bytes`` (the sum of the completed files' bytes)
are final as soon as the call returns.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from fake_openai.listing import page
from fake_openai.params import check_metadata, optional_int
from fake_openai.state import FakeState
from fake_openai.stores import VectorStoreState
from fake_openai.transport import read_payload, reply_json
from fake_openai.vector_search import (
    Hit,
    chunks,
    matches,
    ranked,
    resolve_strategy,
    score,
    words,
)
from fake_openai.wire import ApiError, JsonObject, missing_parameter, new_id

VECTOR_STORES_PATH = "/v1/vector_stores"
FILE_STATUSES = ("in_progress", "completed", "failed", "cancelled")


def vector_store(state: FakeState, store_id: str) -> VectorStoreState:
    """The vector store ``store_id``, or the 404 OpenAI answers for an unknown one."""
    found = state.stores.vector_stores.get(store_id)
    if found is None:
        raise ApiError(404, f"No vector store found with id '{store_id}'.")
    return found


def file_counts(files: list[JsonObject]) -> JsonObject:
    """``file_counts`` of a store or batch: files per status and their total."""
    counts: JsonObject = {status: 0 for status in FILE_STATUSES}
    for entry in files:
        counts[entry["status"]] += 1
    counts["total"] = len(files)
    return counts


def touch(store: VectorStoreState) -> None:
    """Recompute a store's counts and bytes and mark it active now (which moves its expiry)."""
    obj = store.obj
    files = list(store.files.values())
    obj["file_counts"] = file_counts(files)
    obj["usage_bytes"] = sum(entry["usage_bytes"] for entry in files)
    obj["last_active_at"] = int(time.time())
    expires = obj.get("expires_after")
    obj["expires_at"] = obj["last_active_at"] + expires["days"] * 86400 if expires else None


def attach_file(
    state: FakeState,
    store: VectorStoreState,
    file_id: str,
    attributes: Any,
    strategy: Any,
) -> JsonObject:
    """Attach (or re-attach) the file ``file_id`` to ``store`` and process it at once.

    Text (UTF-8) files complete, using their size in bytes; anything else fails as
    ``unsupported_file``. The caller recounts the store with ``touch``.
    """
    stored = state.stores.files.get(file_id)
    if stored is None:
        raise ApiError(404, f"No file found with id '{file_id}'.", param="file_id")
    if attributes is not None and (
        not isinstance(attributes, dict)
        or len(attributes) > 16
        or not all(isinstance(v, str | int | float | bool) for v in attributes.values())
    ):
        raise ApiError(
            400,
            "Invalid 'attributes': expected at most 16 pairs of strings, numbers or booleans.",
            param="attributes",
            code="invalid_value",
        )
    try:
        stored.data.decode()
        failure = None
    except UnicodeDecodeError:
        failure = {
            "code": "unsupported_file",
            "message": "The file type is not supported for retrieval.",
        }
    entry: JsonObject = {
        "id": file_id,
        "object": "vector_store.file",
        "usage_bytes": 0 if failure else len(stored.data),
        "created_at": int(time.time()),
        "vector_store_id": store.obj["id"],
        "status": "failed" if failure else "completed",
        "last_error": failure,
        "chunking_strategy": resolve_strategy(strategy),
        "attributes": dict(attributes) if isinstance(attributes, dict) else {},
    }
    store.files[file_id] = entry
    return entry


def _expires_after(raw: Any) -> JsonObject | None:
    if raw is None:
        return None
    days = raw.get("days") if isinstance(raw, dict) else None
    if (
        not isinstance(raw, dict)
        or raw.get("anchor") != "last_active_at"
        or not isinstance(days, int)
        or not 1 <= days <= 365
    ):
        raise ApiError(
            400,
            "Invalid 'expires_after': expected {'anchor': 'last_active_at', 'days': 1..365}.",
            param="expires_after",
            code="invalid_value",
        )
    return {"anchor": "last_active_at", "days": days}


class VectorStoresApi:
    """The vector store routes (the stores themselves and their search)."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(VECTOR_STORES_PATH, self._create)
        router.add_get(VECTOR_STORES_PATH, self._list)
        router.add_get(VECTOR_STORES_PATH + "/{id}", self._retrieve)
        router.add_post(VECTOR_STORES_PATH + "/{id}", self._update)
        router.add_delete(VECTOR_STORES_PATH + "/{id}", self._delete)
        router.add_post(VECTOR_STORES_PATH + "/{id}/search", self._search)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        payload = await read_payload(request)
        file_ids = payload.get("file_ids") or []
        if not isinstance(file_ids, list) or not all(isinstance(f, str) for f in file_ids):
            raise ApiError(
                400, "Invalid 'file_ids': expected an array of strings.", param="file_ids"
            )
        for file_id in file_ids:
            if file_id not in self._state.stores.files:
                raise ApiError(404, f"No file found with id '{file_id}'.", param="file_ids")
        name = payload.get("name")
        obj: JsonObject = {
            "id": new_id("vs_", 16),
            "object": "vector_store",
            "created_at": int(time.time()),
            "name": name if isinstance(name, str) else "",
            "usage_bytes": 0,
            "file_counts": file_counts([]),
            "status": "completed",
            "expires_after": _expires_after(payload.get("expires_after")),
            "expires_at": None,
            "last_active_at": None,
            "metadata": check_metadata(payload.get("metadata")) or {},
        }
        store = VectorStoreState(obj)
        for file_id in file_ids:
            attach_file(self._state, store, file_id, None, payload.get("chunking_strategy"))
        touch(store)
        self._state.stores.vector_stores[obj["id"]] = store
        return await reply_json(self._state, request, obj)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        stores = [store.obj for store in self._state.stores.vector_stores.values()]
        return await reply_json(self._state, request, page(stores, request.query))

    async def _retrieve(self, request: web.Request) -> web.StreamResponse:
        store = vector_store(self._state, request.match_info["id"])
        return await reply_json(self._state, request, store.obj)

    async def _update(self, request: web.Request) -> web.StreamResponse:
        store = vector_store(self._state, request.match_info["id"])
        payload = await read_payload(request)
        if "name" in payload:
            store.obj["name"] = payload["name"] if isinstance(payload["name"], str) else ""
        if "metadata" in payload:
            store.obj["metadata"] = check_metadata(payload["metadata"]) or {}
        if "expires_after" in payload:
            store.obj["expires_after"] = _expires_after(payload["expires_after"])
        touch(store)
        return await reply_json(self._state, request, store.obj)

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        store_id = request.match_info["id"]
        vector_store(self._state, store_id)
        del self._state.stores.vector_stores[store_id]
        return await reply_json(
            self._state,
            request,
            {"id": store_id, "object": "vector_store.deleted", "deleted": True},
        )

    async def _search(self, request: web.Request) -> web.StreamResponse:
        store = vector_store(self._state, request.match_info["id"])
        payload = await read_payload(request)
        query = payload.get("query")
        queries = [query] if isinstance(query, str) else query
        if (
            not isinstance(queries, list)
            or not queries
            or not all(isinstance(q, str) for q in queries)
        ):
            raise missing_parameter("query")
        limit = optional_int(payload, "max_num_results", minimum=1) or 10
        if limit > 50:
            raise ApiError(
                400,
                "Invalid 'max_num_results': expected an integer between 1 and 50.",
                param="max_num_results",
                code="integer_above_max_value",
            )
        ranking = payload.get("ranking_options") or {}
        threshold = ranking.get("score_threshold", 0.0) if isinstance(ranking, dict) else 0.0
        wanted = set().union(*(words(q) for q in queries))
        hits = self._hits(store, wanted, payload.get("filters"))
        touch(store)
        return await reply_json(
            self._state,
            request,
            {
                "object": "vector_store.search_results.page",
                "search_query": queries,
                "data": [hit.wire() for hit in ranked(hits, float(threshold), limit)],
                "has_more": False,
                "next_page": None,
            },
        )

    def _hits(self, store: VectorStoreState, wanted: set[str], filters: Any) -> list[Hit]:
        hits: list[Hit] = []
        for file_id, entry in store.files.items():
            stored = self._state.stores.files.get(file_id)
            if entry["status"] != "completed" or stored is None:
                continue
            if not matches(filters, entry.get("attributes")):
                continue
            size = entry["chunking_strategy"]["static"]["max_chunk_size_tokens"]
            for chunk in chunks(stored.data.decode(), size):
                hits.append(
                    Hit(
                        file_id,
                        stored.obj["filename"],
                        entry.get("attributes"),
                        chunk,
                        score(wanted, chunk),
                    )
                )
        return hits
