"""A vector store's files (``/v1/vector_stores/{id}/files``: attach, list, retrieve, update
attributes, detach, ``…/content``) and file batches (``…/file_batches``: create, retrieve,
cancel, list their files).

A file batch attaches all its files at once, so it is ``completed`` when created; cancelling
it then changes nothing and returns it as it is. Detaching a file leaves the file itself.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from fake_openai.listing import page
from fake_openai.state import FakeState
from fake_openai.stores import VectorStoreState
from fake_openai.transport import read_payload, reply_json
from fake_openai.vector_search import chunks
from fake_openai.vector_stores import (
    FILE_STATUSES,
    VECTOR_STORES_PATH,
    attach_file,
    file_counts,
    touch,
    vector_store,
)
from fake_openai.wire import ApiError, JsonObject, missing_parameter, new_id

STORE = VECTOR_STORES_PATH + "/{vs}"


def _attached(store: VectorStoreState, file_id: str) -> JsonObject:
    entry = store.files.get(file_id)
    if entry is None:
        raise ApiError(
            404, f"No file found with id '{file_id}' in vector store '{store.obj['id']}'."
        )
    return entry


def _filtered(entries: list[JsonObject], query: Any) -> list[JsonObject]:
    wanted = query.get("filter")
    if wanted is None:
        return entries
    if wanted not in FILE_STATUSES:
        raise ApiError(
            400,
            f"Invalid value: '{wanted}'. Supported values are: 'in_progress', 'completed', "
            "'failed' and 'cancelled'.",
            param="filter",
            code="invalid_value",
        )
    return [entry for entry in entries if entry["status"] == wanted]


class VectorStoreFilesApi:
    """The routes of a vector store's files and file batches."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(STORE + "/files", self._create)
        router.add_get(STORE + "/files", self._list)
        router.add_get(STORE + "/files/{file}", self._retrieve)
        router.add_post(STORE + "/files/{file}", self._update)
        router.add_delete(STORE + "/files/{file}", self._delete)
        router.add_get(STORE + "/files/{file}/content", self._content)
        router.add_post(STORE + "/file_batches", self._create_batch)
        router.add_get(STORE + "/file_batches/{batch}", self._retrieve_batch)
        router.add_post(STORE + "/file_batches/{batch}/cancel", self._cancel_batch)
        router.add_get(STORE + "/file_batches/{batch}/files", self._list_batch_files)

    def _store(self, request: web.Request) -> VectorStoreState:
        return vector_store(self._state, request.match_info["vs"])

    async def _create(self, request: web.Request) -> web.StreamResponse:
        store = self._store(request)
        payload = await read_payload(request)
        file_id = payload.get("file_id")
        if not isinstance(file_id, str) or not file_id:
            raise missing_parameter("file_id")
        entry = attach_file(
            self._state,
            store,
            file_id,
            payload.get("attributes"),
            payload.get("chunking_strategy"),
        )
        touch(store)
        return await reply_json(self._state, request, entry)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        store = self._store(request)
        entries = _filtered(list(store.files.values()), request.query)
        return await reply_json(self._state, request, page(entries, request.query))

    async def _retrieve(self, request: web.Request) -> web.StreamResponse:
        entry = _attached(self._store(request), request.match_info["file"])
        return await reply_json(self._state, request, entry)

    async def _update(self, request: web.Request) -> web.StreamResponse:
        store = self._store(request)
        file_id = request.match_info["file"]
        entry = _attached(store, file_id)
        payload = await read_payload(request)
        if "attributes" not in payload:
            raise missing_parameter("attributes")
        # Re-attaching validates the attributes the same way; the rest is kept.
        updated = attach_file(
            self._state, store, file_id, payload["attributes"], entry["chunking_strategy"]
        )
        updated["created_at"] = entry["created_at"]
        touch(store)
        return await reply_json(self._state, request, updated)

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        store = self._store(request)
        file_id = request.match_info["file"]
        _attached(store, file_id)
        del store.files[file_id]
        touch(store)
        return await reply_json(
            self._state,
            request,
            {"id": file_id, "object": "vector_store.file.deleted", "deleted": True},
        )

    async def _content(self, request: web.Request) -> web.StreamResponse:
        store = self._store(request)
        file_id = request.match_info["file"]
        entry = _attached(store, file_id)
        stored = self._state.stores.files.get(file_id)
        parts: list[JsonObject] = []
        if stored is not None and entry["status"] == "completed":
            size = entry["chunking_strategy"]["static"]["max_chunk_size_tokens"]
            parts = [{"type": "text", "text": c} for c in chunks(stored.data.decode(), size)]
        return await reply_json(
            self._state,
            request,
            {
                "object": "vector_store.file_content.page",
                "data": parts,
                "has_more": False,
                "next_page": None,
            },
        )

    async def _create_batch(self, request: web.Request) -> web.StreamResponse:
        store = self._store(request)
        payload = await read_payload(request)
        specs = _batch_specs(payload)
        for file_id, _, _ in specs:
            if file_id not in self._state.stores.files:
                raise ApiError(404, f"No file found with id '{file_id}'.", param="file_ids")
        for file_id, attributes, strategy in specs:
            attach_file(self._state, store, file_id, attributes, strategy)
        touch(store)
        batch_id = new_id("vsfb_", 16)
        ids = [file_id for file_id, _, _ in specs]
        store.batch_files[batch_id] = ids
        store.batches[batch_id] = {
            "id": batch_id,
            "object": "vector_store.files_batch",
            "created_at": int(time.time()),
            "vector_store_id": store.obj["id"],
            "status": "completed",
            "file_counts": file_counts([store.files[file_id] for file_id in ids]),
        }
        return await reply_json(self._state, request, store.batches[batch_id])

    def _batch(self, request: web.Request) -> tuple[VectorStoreState, JsonObject]:
        store = self._store(request)
        batch_id = request.match_info["batch"]
        batch = store.batches.get(batch_id)
        if batch is None:
            raise ApiError(404, f"No file batch found with id '{batch_id}'.")
        return store, batch

    async def _retrieve_batch(self, request: web.Request) -> web.StreamResponse:
        _, batch = self._batch(request)
        return await reply_json(self._state, request, batch)

    async def _cancel_batch(self, request: web.Request) -> web.StreamResponse:
        _, batch = self._batch(request)
        return await reply_json(self._state, request, batch)

    async def _list_batch_files(self, request: web.Request) -> web.StreamResponse:
        store, batch = self._batch(request)
        ids = store.batch_files[batch["id"]]
        entries = [store.files[file_id] for file_id in ids if file_id in store.files]
        entries = _filtered(entries, request.query)
        return await reply_json(self._state, request, page(entries, request.query))


def _batch_specs(payload: JsonObject) -> list[tuple[str, Any, Any]]:
    """``(file_id, attributes, chunking_strategy)`` per file of a batch: from ``file_ids``
    with the batch's own settings, or from ``files`` with each file's."""
    file_ids, files = payload.get("file_ids"), payload.get("files")
    attributes, strategy = payload.get("attributes"), payload.get("chunking_strategy")
    if (file_ids is None) == (files is None):
        raise ApiError(
            400,
            "Exactly one of 'file_ids' or 'files' must be provided.",
            param="file_ids",
        )
    if isinstance(file_ids, list) and file_ids and all(isinstance(f, str) for f in file_ids):
        return [(file_id, attributes, strategy) for file_id in file_ids]
    if (
        isinstance(files, list)
        and files
        and all(isinstance(f, dict) and isinstance(f.get("file_id"), str) for f in files)
    ):
        return [
            (f["file_id"], f.get("attributes", attributes), f.get("chunking_strategy", strategy))
            for f in files
        ]
    raise ApiError(
        400,
        "Invalid 'file_ids': expected a non-empty array of file ids.",
        param="file_ids" if file_ids is not None else "files",
    )
