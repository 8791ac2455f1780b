"""Operations on stored upstream objects (files, vector stores, conversations, …), as data.

None of these is a model call: what matters is whose objects they touch. An
:class:`ObjectOp` says which path parameters and body fields name objects
(each must be the caller's), which objects its answer creates (recorded to
the caller before the answer goes out, so another replica can use them at
once), what a delete forgets, and which lists are cut down to the caller's
objects. Adding an operation is one line in :data:`OBJECT_OPS` and tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.config.tenant import FilesPolicy
from gateway.errors import BadRequest, PayloadTooLarge, PermissionDenied
from gateway.shapes.refs import (
    BATCH,
    CHAT_COMPLETION,
    CONTAINER,
    CONVERSATION,
    FILE,
    FILE_BATCH,
    ITEM,
    REALTIME_CALL,
    RESPONSE,
    UPLOAD,
    VECTOR_STORE,
    FindRefs,
    Kind,
    Ref,
    field_refs,
    input_refs,
    no_refs,
    responses_refs,
)

_NONE: Mapping[str, Kind] = {}
Check = Callable[[dict[str, Any], FilesPolicy], None]


@dataclass(frozen=True, slots=True)
class ObjectOp:
    method: str
    path: str  # template under /v1: "/v1/files/{file_id}"
    name: str  # the `endpoint` label: "files.retrieve"
    family: str  # what a tenant's `endpoints:` allow-list names
    owns: Mapping[str, Kind] = field(default_factory=lambda: _NONE)  # path params to check
    refs: FindRefs = no_refs  # ids a JSON body names
    creates: Kind | None = None  # the answer's `id` becomes the caller's
    shows_items: bool = False  # the items its answer shows (`output`, `data`) are the caller's
    deletes: str | None = None  # the path param whose object a 2xx answer deleted
    lists: Kind | None = None  # a list cut down to the caller's objects of this kind
    upload: str | None = None  # a multipart body's file field, held to the files policy
    or_json: bool = False  # an upload may instead be a JSON body naming a stored file
    check: Check | None = None  # the tenant's policy on a JSON body, before it goes upstream
    creates_file: bool = False  # the answer's `file.id` becomes the caller's (uploads)
    streams: bool = False  # may answer with the Responses SSE dialect (a replay)
    # A held call's objects (batches): those its answer shows ended are billed now, and
    # the files they made (their results) become the caller's.
    ends: str | None = None

    @property
    def upstream_template(self) -> str:
        return self.path.removeprefix("/v1")


def _file_batch_refs(body: dict[str, Any]) -> Iterator[Ref]:
    yield from field_refs(FILE, "file_ids")(body)
    files = body.get("files")
    if isinstance(files, list):
        for entry in files:
            if isinstance(entry, dict) and isinstance(entry.get("file_id"), str):
                yield Ref(FILE, entry["file_id"])


def _items_refs(body: dict[str, Any]) -> Iterator[Ref]:
    return input_refs(body.get("items"))


def check_purpose(purpose: Any, files: FilesPolicy) -> None:
    if not isinstance(purpose, str) or not purpose:
        raise BadRequest("You must provide a purpose parameter.", param="purpose")
    if "*" not in files.purposes and purpose not in files.purposes:
        raise PermissionDenied(
            f"Your tenant may not upload files for the purpose '{purpose}'.",
            param="purpose",
            code="purpose_not_allowed",
        )


def check_size(size: int, files: FilesPolicy, param: str) -> None:
    if size > files.max_bytes:
        raise PayloadTooLarge(
            f"The file is larger than your tenant's limit of {files.max_bytes} bytes.",
            param=param,
            code="file_too_large",
        )


def _check_upload(body: dict[str, Any], files: FilesPolicy) -> None:
    """An Upload declares its purpose and final size up front: both held to the policy."""
    check_purpose(body.get("purpose"), files)
    size = body.get("bytes")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise BadRequest("'bytes' must be a non-negative integer.", param="bytes")
    check_size(size, files, "bytes")


_RESP = {"response_id": RESPONSE}
_FILE = {"file_id": FILE}
_VS = {"vector_store_id": VECTOR_STORE}
_VS_FILE = {"vector_store_id": VECTOR_STORE, "file_id": FILE}
_VS_BATCH = {"vector_store_id": VECTOR_STORE, "batch_id": FILE_BATCH}
_CONV = {"conversation_id": CONVERSATION}
_CHAT = {"completion_id": CHAT_COMPLETION}
_UPLOAD = {"upload_id": UPLOAD}
_VS_PATH = "/v1/vector_stores/{vector_store_id}"
_CONV_PATH = "/v1/conversations/{conversation_id}"
_BATCH = {"batch_id": BATCH}
_CNTR = {"container_id": CONTAINER}
_CNTR_PATH = "/v1/containers/{container_id}"

OBJECT_OPS: tuple[ObjectOp, ...] = (
    # Stored responses (created by POST /v1/responses, a metered call)
    ObjectOp("GET", "/v1/responses/{response_id}", "responses.retrieve", "responses", _RESP,
             streams=True, shows_items=True, ends=RESPONSE.name),
    ObjectOp("DELETE", "/v1/responses/{response_id}", "responses.delete", "responses", _RESP,
             deletes="response_id"),
    ObjectOp("POST", "/v1/responses/{response_id}/cancel", "responses.cancel", "responses", _RESP,
             ends=RESPONSE.name),
    ObjectOp("GET", "/v1/responses/{response_id}/input_items", "responses.input_items",
             "responses", _RESP, shows_items=True),
    ObjectOp("POST", "/v1/responses/input_tokens", "responses.input_tokens", "responses",
             refs=responses_refs),
    # Stored chat completions (created by POST /v1/chat/completions with store: true)
    ObjectOp("GET", "/v1/chat/completions", "chat.completions.list", "chat",
             lists=CHAT_COMPLETION),
    ObjectOp("GET", "/v1/chat/completions/{completion_id}", "chat.completions.retrieve", "chat",
             _CHAT),
    ObjectOp("POST", "/v1/chat/completions/{completion_id}", "chat.completions.update", "chat",
             _CHAT),
    ObjectOp("DELETE", "/v1/chat/completions/{completion_id}", "chat.completions.delete", "chat",
             _CHAT, deletes="completion_id"),
    ObjectOp("GET", "/v1/chat/completions/{completion_id}/messages",
             "chat.completions.messages", "chat", _CHAT),
    # Files
    ObjectOp("POST", "/v1/files", "files.create", "files", creates=FILE, upload="file"),
    ObjectOp("GET", "/v1/files", "files.list", "files", lists=FILE),
    ObjectOp("GET", "/v1/files/{file_id}", "files.retrieve", "files", _FILE),
    ObjectOp("DELETE", "/v1/files/{file_id}", "files.delete", "files", _FILE, deletes="file_id"),
    ObjectOp("GET", "/v1/files/{file_id}/content", "files.content", "files", _FILE),
    # Uploads: a large file in parts; completing one creates a file
    ObjectOp("POST", "/v1/uploads", "uploads.create", "files", creates=UPLOAD,
             check=_check_upload),
    ObjectOp("POST", "/v1/uploads/{upload_id}/parts", "uploads.parts.create", "files", _UPLOAD,
             upload="data"),
    ObjectOp("POST", "/v1/uploads/{upload_id}/complete", "uploads.complete", "files", _UPLOAD,
             creates_file=True),
    ObjectOp("POST", "/v1/uploads/{upload_id}/cancel", "uploads.cancel", "files", _UPLOAD),
    # Vector stores, their files and file batches
    ObjectOp("POST", "/v1/vector_stores", "vector_stores.create", "vector_stores",
             refs=field_refs(FILE, "file_ids"), creates=VECTOR_STORE),
    ObjectOp("GET", "/v1/vector_stores", "vector_stores.list", "vector_stores",
             lists=VECTOR_STORE),
    ObjectOp("GET", _VS_PATH, "vector_stores.retrieve", "vector_stores", _VS),
    ObjectOp("POST", _VS_PATH, "vector_stores.update", "vector_stores", _VS),
    ObjectOp("DELETE", _VS_PATH, "vector_stores.delete", "vector_stores", _VS,
             deletes="vector_store_id"),
    ObjectOp("POST", _VS_PATH + "/search", "vector_stores.search", "vector_stores", _VS),
    ObjectOp("POST", _VS_PATH + "/files", "vector_stores.files.create", "vector_stores", _VS,
             refs=field_refs(FILE, "file_id")),
    ObjectOp("GET", _VS_PATH + "/files", "vector_stores.files.list", "vector_stores", _VS),
    ObjectOp("GET", _VS_PATH + "/files/{file_id}", "vector_stores.files.retrieve",
             "vector_stores", _VS_FILE),
    ObjectOp("POST", _VS_PATH + "/files/{file_id}", "vector_stores.files.update",
             "vector_stores", _VS_FILE),
    ObjectOp("DELETE", _VS_PATH + "/files/{file_id}", "vector_stores.files.delete",
             "vector_stores", _VS_FILE),
    ObjectOp("GET", _VS_PATH + "/files/{file_id}/content", "vector_stores.files.content",
             "vector_stores", _VS_FILE),
    ObjectOp("POST", _VS_PATH + "/file_batches", "vector_stores.file_batches.create",
             "vector_stores", _VS, refs=_file_batch_refs, creates=FILE_BATCH),
    ObjectOp("GET", _VS_PATH + "/file_batches/{batch_id}", "vector_stores.file_batches.retrieve",
             "vector_stores", _VS_BATCH),
    ObjectOp("POST", _VS_PATH + "/file_batches/{batch_id}/cancel",
             "vector_stores.file_batches.cancel", "vector_stores", _VS_BATCH),
    ObjectOp("GET", _VS_PATH + "/file_batches/{batch_id}/files",
             "vector_stores.file_batches.files", "vector_stores", _VS_BATCH),
    # Conversations and their items
    ObjectOp("POST", "/v1/conversations", "conversations.create", "conversations",
             refs=_items_refs, creates=CONVERSATION),
    ObjectOp("GET", _CONV_PATH, "conversations.retrieve", "conversations", _CONV),
    ObjectOp("POST", _CONV_PATH, "conversations.update", "conversations", _CONV),
    ObjectOp("DELETE", _CONV_PATH, "conversations.delete", "conversations", _CONV,
             deletes="conversation_id"),
    ObjectOp("POST", _CONV_PATH + "/items", "conversations.items.create", "conversations",
             _CONV, refs=_items_refs, shows_items=True),
    ObjectOp("GET", _CONV_PATH + "/items", "conversations.items.list", "conversations", _CONV,
             shows_items=True),
    ObjectOp("GET", _CONV_PATH + "/items/{item_id}", "conversations.items.retrieve",
             "conversations", _CONV, creates=ITEM),
    ObjectOp("DELETE", _CONV_PATH + "/items/{item_id}", "conversations.items.delete",
             "conversations", _CONV),
    # Batches (created by POST /v1/batches, a call held until the batch ends)
    ObjectOp("GET", "/v1/batches", "batches.list", "batches", lists=BATCH, ends=BATCH.name),
    ObjectOp("GET", "/v1/batches/{batch_id}", "batches.retrieve", "batches", _BATCH,
             ends=BATCH.name),
    ObjectOp("POST", "/v1/batches/{batch_id}/cancel", "batches.cancel", "batches", _BATCH,
             ends=BATCH.name),
    # Containers (created by POST /v1/containers, a metered call) and their files
    ObjectOp("GET", "/v1/containers", "containers.list", "containers", lists=CONTAINER),
    ObjectOp("GET", _CNTR_PATH, "containers.retrieve", "containers", _CNTR),
    ObjectOp("DELETE", _CNTR_PATH, "containers.delete", "containers", _CNTR,
             deletes="container_id"),
    ObjectOp("POST", _CNTR_PATH + "/files", "containers.files.create", "containers", _CNTR,
             refs=field_refs(FILE, "file_id"), upload="file", or_json=True),
    ObjectOp("GET", _CNTR_PATH + "/files", "containers.files.list", "containers", _CNTR),
    ObjectOp("GET", _CNTR_PATH + "/files/{file_id}", "containers.files.retrieve", "containers",
             _CNTR),
    ObjectOp("DELETE", _CNTR_PATH + "/files/{file_id}", "containers.files.delete",
             "containers", _CNTR),
    ObjectOp("GET", _CNTR_PATH + "/files/{file_id}/content", "containers.files.content",
             "containers", _CNTR),
    # Realtime calls (created by POST /v1/realtime/calls, watched by the gateway)
    *(ObjectOp("POST", f"/v1/realtime/calls/{{call_id}}/{action}", f"realtime.calls.{action}",
               "realtime", {"call_id": REALTIME_CALL})
      for action in ("accept", "hangup", "refer", "reject")),
)  # fmt: skip
