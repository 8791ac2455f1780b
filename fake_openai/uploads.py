"""The Uploads API: ``POST /v1/uploads`` (``bytes``, ``filename``, ``mime_type``, ``purpose``,
optional ``expires_after``), ``POST /{id}/parts`` (multipart ``data``), ``POST /{id}/complete``
(``part_ids`` in order, optional ``md5``) which makes the file (``upload.file``), and
``POST /{id}/cancel``. An upload is ``pending`` until completed or cancelled; it expires an
hour after creation (not enforced)."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from aiohttp import web

from fake_openai.files import add_file, check_purpose
from fake_openai.multipart import read_form
from fake_openai.state import FakeState
from fake_openai.stores import UploadState
from fake_openai.transport import read_payload, reply_json
from fake_openai.wire import ApiError, JsonObject, missing_parameter, new_id

UPLOADS_PATH = "/v1/uploads"
UPLOAD_EXPIRY_S = 3600
MAX_UPLOAD_BYTES = 8 * 1024**3


def _expires_after_s(raw: Any) -> int | None:
    if raw is None:
        return None
    seconds = raw.get("seconds") if isinstance(raw, dict) else None
    if (
        not isinstance(raw, dict)
        or raw.get("anchor") != "created_at"
        or not isinstance(seconds, int)
        or not 3600 <= seconds <= 2_592_000
    ):
        raise ApiError(
            400,
            "Invalid 'expires_after': expected {'anchor': 'created_at', 'seconds': 3600..2592000}.",
            param="expires_after",
            code="invalid_value",
        )
    return seconds


class UploadsApi:
    """The upload routes."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(UPLOADS_PATH, self._create)
        router.add_post(UPLOADS_PATH + "/{id}/parts", self._add_part)
        router.add_post(UPLOADS_PATH + "/{id}/complete", self._complete)
        router.add_post(UPLOADS_PATH + "/{id}/cancel", self._cancel)

    def _upload(self, request: web.Request, *, pending: bool = True) -> UploadState:
        upload_id = request.match_info["id"]
        upload = self._state.stores.uploads.get(upload_id)
        if upload is None:
            raise ApiError(404, f"No upload found with id '{upload_id}'.")
        status = upload.obj["status"]
        if pending and status != "pending":
            raise ApiError(400, f"Upload {upload_id} is already {status}.", param="id")
        return upload

    async def _create(self, request: web.Request) -> web.StreamResponse:
        payload = await read_payload(request)
        for name in ("filename", "mime_type", "purpose"):
            if not isinstance(payload.get(name), str) or not payload[name]:
                raise missing_parameter(name)
        check_purpose(payload["purpose"])
        size = payload.get("bytes")
        if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= MAX_UPLOAD_BYTES:
            raise ApiError(
                400,
                f"Invalid 'bytes': expected an integer between 1 and {MAX_UPLOAD_BYTES}.",
                param="bytes",
                code="invalid_value",
            )
        now = int(time.time())
        obj: JsonObject = {
            "id": new_id("upload_", 16),
            "object": "upload",
            "bytes": size,
            "created_at": now,
            "filename": payload["filename"],
            "purpose": payload["purpose"],
            "status": "pending",
            "expires_at": now + UPLOAD_EXPIRY_S,
            "file": None,
        }
        expiry = _expires_after_s(payload.get("expires_after"))
        self._state.stores.uploads[obj["id"]] = UploadState(obj, expiry)
        return await reply_json(self._state, request, obj)

    async def _add_part(self, request: web.Request) -> web.StreamResponse:
        upload = self._upload(request)
        form = await read_form(request)
        data = form.require_file("data").data
        part_id = new_id("part_", 16)
        upload.parts[part_id] = data
        part = {
            "id": part_id,
            "object": "upload.part",
            "created_at": int(time.time()),
            "upload_id": upload.obj["id"],
        }
        return await reply_json(self._state, request, part)

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        upload = self._upload(request)
        payload = await read_payload(request)
        part_ids = payload.get("part_ids")
        if not isinstance(part_ids, list) or not all(isinstance(p, str) for p in part_ids):
            raise missing_parameter("part_ids")
        unknown = [part for part in part_ids if part not in upload.parts]
        if unknown:
            raise ApiError(400, f"Invalid part id: '{unknown[0]}'.", param="part_ids")
        data = b"".join(upload.parts[part] for part in part_ids)
        obj = upload.obj
        if len(data) != obj["bytes"]:
            raise ApiError(
                400,
                f"The number of bytes uploaded ({len(data)}) does not match the expected "
                f"number of bytes ({obj['bytes']}).",
                param="part_ids",
            )
        md5 = payload.get("md5")
        if isinstance(md5, str) and md5 and md5 != hashlib.md5(data).hexdigest():  # noqa: S324
            raise ApiError(400, "The md5 checksum does not match the uploaded bytes.", param="md5")
        file_obj = add_file(
            self._state, obj["filename"], obj["purpose"], data, upload.file_expiry_s
        )
        obj.update(status="completed", file=file_obj)
        return await reply_json(self._state, request, obj)

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        upload = self._upload(request)
        upload.obj["status"] = "cancelled"
        return await reply_json(self._state, request, upload.obj)
