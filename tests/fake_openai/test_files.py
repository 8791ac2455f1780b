"""The fake's Files API, driven with the official SDK (multipart upload, list, retrieve,
content, delete) and checked raw against its types: pagination, filters, expiry, 404s."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from openai.types import FileDeleted, FileObject

from fake_openai.conformance import strict, strict_page


def upload(client: openai.OpenAI, name: str, data: bytes, purpose: Any = "user_data") -> FileObject:
    return client.files.create(file=(name, data), purpose=purpose)


def test_create_retrieve_and_content(client: openai.OpenAI) -> None:
    data = bytes(range(256)) + b"\r\n--tail\r\n"
    created = upload(client, "blob.bin", data)
    assert created.id.startswith("file-")
    assert len(created.id) == len("file-") + 22
    assert (created.object, created.filename, created.bytes) == ("file", "blob.bin", len(data))
    assert (created.purpose, created.status, created.expires_at) == ("user_data", "processed", None)

    raw = client.get(f"/files/{created.id}", cast_to=httpx.Response).json()
    assert strict(FileObject, raw) == created
    assert client.files.content(created.id).read() == data


def test_batch_files_expire_and_expires_after(client: openai.OpenAI) -> None:
    batch = upload(client, "in.jsonl", b"{}\n", "batch")
    assert batch.expires_at == batch.created_at + 30 * 24 * 3600
    short = client.files.create(
        file=("a.txt", b"x"),
        purpose="assistants",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    assert short.expires_at == short.created_at + 3600
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(
            file=("a.txt", b"x"),
            purpose="assistants",
            expires_after={"anchor": "created_at", "seconds": 5},
        )
    assert caught.value.param == "expires_after.seconds"
    with pytest.raises(openai.BadRequestError) as caught:
        upload(client, "not-jsonl.txt", b"{}", "batch")
    assert caught.value.param == "file"
    with pytest.raises(openai.BadRequestError) as caught:
        upload(client, "a.txt", b"x", "nonsense")
    assert caught.value.param == "purpose"


def test_list_pages_filters_and_orders(client: openai.OpenAI) -> None:
    ids = [upload(client, f"f{i}.txt", b"x" * i).id for i in range(5)]
    other = upload(client, "v.png", b"png", "vision").id

    raw = client.get("/files", cast_to=httpx.Response).json()
    listed = strict_page(FileObject, raw)
    assert [f.id for f in listed] == [other, *reversed(ids)], "newest first by default"
    assert raw["has_more"] is False

    first = client.files.list(purpose="user_data", order="asc", limit=2)
    assert [f.id for f in first.data] == ids[:2]
    assert first.has_more is True
    second = client.files.list(purpose="user_data", order="asc", limit=2, after=ids[1])
    assert [f.id for f in second.data] == ids[2:4]
    every = [f.id for f in client.files.list(purpose="user_data", order="asc", limit=2)]
    assert every == ids, "the SDK's auto-pagination follows after/has_more"

    with pytest.raises(openai.BadRequestError) as caught:
        client.files.list(limit=0)
    assert caught.value.param == "limit"


def test_delete_then_404(client: openai.OpenAI) -> None:
    file_id = upload(client, "gone.txt", b"bye").id
    raw = client.delete(f"/files/{file_id}", cast_to=httpx.Response).json()
    deleted = strict(FileDeleted, raw)
    assert (deleted.id, deleted.deleted, deleted.object) == (file_id, True, "file")
    for call in (
        lambda: client.files.retrieve(file_id),
        lambda: client.files.delete(file_id),
        lambda: client.files.content(file_id),
    ):
        with pytest.raises(openai.NotFoundError) as caught:
            call()
        assert caught.value.response.json()["error"]["message"] == f"No such File object: {file_id}"
        assert caught.value.param == "id"


def test_json_body_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/files", body={"purpose": "batch"}, cast_to=httpx.Response)
    assert "multipart/form-data" in caught.value.message
