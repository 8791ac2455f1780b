"""The Files API: ``POST /v1/files`` (multipart ``file``, ``purpose``, optional
``expires_after[anchor]``/``expires_after[seconds]``), list (``purpose``, ``order``, ``after``,
``limit``), retrieve, delete and ``…/content`` (the bytes as uploaded).

Other families create files here too (completed uploads, batch output) and read them
(vector stores, batches, containers) through ``add_file`` and ``stored_file``.
"""

from __future__ import annotations

import time

from aiohttp import web

from fake_openai.listing import page
from fake_openai.multipart import read_form
from fake_openai.state import FakeState
from fake_openai.stores import StoredFile
from fake_openai.transport import reply_bytes, reply_json
from fake_openai.wire import ApiError, JsonObject, new_file_id

FILES_PATH = "/v1/files"
PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
"""Purposes a client may upload with; ``batch_output`` files are the API's own."""
BATCH_EXPIRY_S = 30 * 24 * 3600
"""Batch files expire after 30 days unless ``expires_after`` says otherwise."""
MAX_LIST_LIMIT = 10_000


def add_file(
    state: FakeState,
    filename: str,
    purpose: str,
    data: bytes,
    expires_after_s: int | None = None,
) -> JsonObject:
    """Store a file and return its ``file`` object."""
    created_at = int(time.time())
    if expires_after_s is None and purpose == "batch":
        expires_after_s = BATCH_EXPIRY_S
    obj: JsonObject = {
        "object": "file",
        "id": new_file_id(),
        "purpose": purpose,
        "filename": filename,
        "bytes": len(data),
        "created_at": created_at,
        "expires_at": None if expires_after_s is None else created_at + expires_after_s,
        "status": "processed",
        "status_details": None,
    }
    state.stores.files[obj["id"]] = StoredFile(obj, data)
    return obj


def stored_file(state: FakeState, file_id: str, param: str = "id") -> StoredFile:
    """The file ``file_id``, or the 404 OpenAI answers for an unknown one."""
    stored = state.stores.files.get(file_id)
    if stored is None:
        raise ApiError(404, f"No such File object: {file_id}", param=param)
    return stored


def check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        listed = ", ".join(f"'{p}'" for p in PURPOSES)
        raise ApiError(
            400,
            f"Invalid value for 'purpose': '{purpose}'. Supported values are: {listed}.",
            param="purpose",
            code="invalid_value",
        )


def expiry_seconds(anchor: str | None, seconds: str | None) -> int | None:
    """``expires_after`` from its two form fields; None when absent."""
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise ApiError(
            400,
            "Invalid value for 'expires_after.anchor': expected 'created_at'.",
            param="expires_after.anchor",
            code="invalid_value",
        )
    try:
        value = int(seconds or "")
    except ValueError:
        value = -1
    if not 3600 <= value <= 2_592_000:
        raise ApiError(
            400,
            "Invalid 'expires_after.seconds': expected an integer between 3600 and 2592000.",
            param="expires_after.seconds",
            code="integer_out_of_range",
        )
    return value


class FilesApi:
    """The Files routes."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(FILES_PATH, self._create)
        router.add_get(FILES_PATH, self._list)
        router.add_get(FILES_PATH + "/{id}", self._retrieve)
        router.add_delete(FILES_PATH + "/{id}", self._delete)
        router.add_get(FILES_PATH + "/{id}/content", self._content)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        form = await read_form(request)
        upload = form.require_file("file")
        purpose = form.require_text("purpose")
        check_purpose(purpose)
        expires = expiry_seconds(
            form.text("expires_after[anchor]"), form.text("expires_after[seconds]")
        )
        filename = upload.filename or "file"
        if purpose == "batch" and not filename.endswith(".jsonl"):
            raise ApiError(400, "Invalid file format for Batch API. Must be .jsonl", param="file")
        obj = add_file(self._state, filename, purpose, upload.data, expires)
        return await reply_json(self._state, request, obj)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        purpose = request.query.get("purpose")
        files = [
            stored.obj
            for stored in self._state.stores.files.values()
            if purpose is None or stored.obj["purpose"] == purpose
        ]
        listing = page(files, request.query, default_limit=MAX_LIST_LIMIT, max_limit=MAX_LIST_LIMIT)
        return await reply_json(self._state, request, listing)

    async def _retrieve(self, request: web.Request) -> web.StreamResponse:
        stored = stored_file(self._state, request.match_info["id"])
        return await reply_json(self._state, request, stored.obj)

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["id"]
        stored_file(self._state, file_id)
        del self._state.stores.files[file_id]
        return await reply_json(
            self._state, request, {"object": "file", "id": file_id, "deleted": True}
        )

    async def _content(self, request: web.Request) -> web.StreamResponse:
        stored = stored_file(self._state, request.match_info["id"])
        return await reply_bytes(self._state, request, stored.data, "application/octet-stream")
