"""Containers (code interpreter): ``/v1/containers`` create (``name``, ``file_ids``,
``expires_after``, ``memory_limit``), list (``name``, ``order``, ``after``, ``limit``),
retrieve, delete; and their files: ``/{id}/files`` create (multipart ``file``, or JSON
``file_id`` copying a file), list, retrieve, delete and ``…/content`` (the bytes).

Containers are ``running`` from creation; files live at ``/mnt/data/{filename}``.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from fake_openai.files import stored_file
from fake_openai.listing import page
from fake_openai.multipart import read_form
from fake_openai.state import FakeState
from fake_openai.stores import ContainerState, StoredFile
from fake_openai.transport import read_payload, reply_bytes, reply_json
from fake_openai.wire import ApiError, JsonObject, missing_parameter, new_id

CONTAINERS_PATH = "/v1/containers"
MEMORY_LIMITS = ("1g", "4g", "16g", "64g")
DEFAULT_IDLE_MINUTES = 20


def _expires_after(raw: Any) -> JsonObject:
    if raw is None:
        return {"anchor": "last_active_at", "minutes": DEFAULT_IDLE_MINUTES}
    minutes = raw.get("minutes") if isinstance(raw, dict) else None
    if (
        not isinstance(raw, dict)
        or raw.get("anchor") != "last_active_at"
        or not isinstance(minutes, int)
        or not 1 <= minutes <= 20
    ):
        raise ApiError(
            400,
            "Invalid 'expires_after': expected {'anchor': 'last_active_at', 'minutes': 1..20}.",
            param="expires_after",
            code="invalid_value",
        )
    return {"anchor": "last_active_at", "minutes": minutes}


def _container_file(
    container: ContainerState, filename: str, data: bytes, source: str
) -> JsonObject:
    obj: JsonObject = {
        "id": new_id("cfile_", 16),
        "object": "container.file",
        "created_at": int(time.time()),
        "bytes": len(data),
        "container_id": container.obj["id"],
        "path": f"/mnt/data/{filename}",
        "source": source,
    }
    container.files[obj["id"]] = StoredFile(obj, data)
    container.obj["last_active_at"] = obj["created_at"]
    return obj


class ContainersApi:
    """The container routes."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def add_routes(self, router: web.UrlDispatcher) -> None:
        path = CONTAINERS_PATH
        router.add_post(path, self._create)
        router.add_get(path, self._list)
        router.add_get(path + "/{id}", self._retrieve)
        router.add_delete(path + "/{id}", self._delete)
        router.add_post(path + "/{id}/files", self._add_file)
        router.add_get(path + "/{id}/files", self._list_files)
        router.add_get(path + "/{id}/files/{file}", self._retrieve_file)
        router.add_delete(path + "/{id}/files/{file}", self._delete_file)
        router.add_get(path + "/{id}/files/{file}/content", self._file_content)

    def _container(self, request: web.Request) -> ContainerState:
        container_id = request.match_info["id"]
        found = self._state.stores.containers.get(container_id)
        if found is None:
            raise ApiError(404, f"No container found with id '{container_id}'.")
        return found

    def _file(self, request: web.Request) -> tuple[ContainerState, StoredFile]:
        container = self._container(request)
        file_id = request.match_info["file"]
        found = container.files.get(file_id)
        if found is None:
            raise ApiError(
                404, f"No file found with id '{file_id}' in container '{container.obj['id']}'."
            )
        return container, found

    async def _create(self, request: web.Request) -> web.StreamResponse:
        payload = await read_payload(request)
        name = payload.get("name")
        if not isinstance(name, str) or not name:
            raise missing_parameter("name")
        memory = payload.get("memory_limit", "1g")
        if memory not in MEMORY_LIMITS:
            raise ApiError(
                400,
                f"Invalid value: '{memory}'. Supported values are: '1g', '4g', '16g' and '64g'.",
                param="memory_limit",
                code="invalid_value",
            )
        file_ids = payload.get("file_ids") or []
        if not isinstance(file_ids, list) or not all(isinstance(f, str) for f in file_ids):
            raise ApiError(
                400, "'file_ids' must be a list of strings.", param="file_ids", code="invalid_type"
            )
        sources = [stored_file(self._state, file_id, "file_ids") for file_id in file_ids]
        now = int(time.time())
        obj: JsonObject = {
            "id": new_id("cntr_", 16),
            "object": "container",
            "created_at": now,
            "status": "running",
            "expires_after": _expires_after(payload.get("expires_after")),
            "last_active_at": now,
            "name": name,
            "memory_limit": memory,
        }
        container = ContainerState(obj)
        for source in sources:
            _container_file(container, source.obj["filename"], source.data, "user")
        self._state.stores.containers[obj["id"]] = container
        return await reply_json(self._state, request, obj)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        name = request.query.get("name")
        found = [
            container.obj
            for container in self._state.stores.containers.values()
            if name is None or container.obj["name"] == name
        ]
        return await reply_json(self._state, request, page(found, request.query))

    async def _retrieve(self, request: web.Request) -> web.StreamResponse:
        return await reply_json(self._state, request, self._container(request).obj)

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        container_id = self._container(request).obj["id"]
        del self._state.stores.containers[container_id]
        return await reply_json(
            self._state,
            request,
            {"id": container_id, "object": "container.deleted", "deleted": True},
        )

    async def _add_file(self, request: web.Request) -> web.StreamResponse:
        container = self._container(request)
        if request.content_type == "multipart/form-data":
            form = await read_form(request)
            file_id = form.text("file_id")
            upload = None if file_id else form.require_file("file")
        else:
            file_id = (await read_payload(request)).get("file_id")
            upload = None
        if upload is not None:
            obj = _container_file(container, upload.filename or "file", upload.data, "user")
        elif isinstance(file_id, str) and file_id:
            source = stored_file(self._state, file_id, "file_id")
            obj = _container_file(container, source.obj["filename"], source.data, "user")
        else:
            raise ApiError(
                400,
                "Missing required parameter: 'file' or 'file_id'.",
                param="file",
                code="missing_required_parameter",
            )
        return await reply_json(self._state, request, obj)

    async def _list_files(self, request: web.Request) -> web.StreamResponse:
        container = self._container(request)
        files = [stored.obj for stored in container.files.values()]
        return await reply_json(self._state, request, page(files, request.query))

    async def _retrieve_file(self, request: web.Request) -> web.StreamResponse:
        _, stored = self._file(request)
        return await reply_json(self._state, request, stored.obj)

    async def _delete_file(self, request: web.Request) -> web.StreamResponse:
        container, stored = self._file(request)
        del container.files[stored.obj["id"]]
        return await reply_json(
            self._state,
            request,
            {"id": stored.obj["id"], "object": "container.file.deleted", "deleted": True},
        )

    async def _file_content(self, request: web.Request) -> web.StreamResponse:
        _, stored = self._file(request)
        return await reply_bytes(self._state, request, stored.data, "application/octet-stream")
