"""The fake's Uploads API, driven with the official SDK and checked raw against its types:
create, multipart parts, complete (order, size and md5 checks) into a file, cancel, 404s."""

from __future__ import annotations

import hashlib

import httpx
import openai
import pytest
from openai.types import Upload
from openai.types.uploads import UploadPart

from fake_openai.conformance import strict


def test_parts_complete_into_a_file(client: openai.OpenAI) -> None:
    chunks = [b"hello ", b"\x00\xffbinary\r\n", b"world"]
    data = b"".join(chunks)
    raw = client.post(
        "/uploads",
        body={
            "bytes": len(data),
            "filename": "big.bin",
            "mime_type": "application/octet-stream",
            "purpose": "user_data",
        },
        cast_to=httpx.Response,
    ).json()
    upload = strict(Upload, raw)
    assert upload.id.startswith("upload_")
    assert (upload.status, upload.file, upload.bytes) == ("pending", None, len(data))
    assert upload.expires_at == upload.created_at + 3600

    part_ids = []
    for chunk in chunks:
        raw_part = client.post(
            f"/uploads/{upload.id}/parts",
            body=None,
            files=[("data", ("blob", chunk))],
            options={"headers": {"Content-Type": "multipart/form-data"}},
            cast_to=httpx.Response,
        ).json()
        part = strict(UploadPart, raw_part)
        assert (part.object, part.upload_id) == ("upload.part", upload.id)
        part_ids.append(part.id)

    with pytest.raises(openai.BadRequestError) as caught:
        client.uploads.complete(upload.id, part_ids=part_ids[:2])
    assert "does not match the expected number of bytes" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        client.uploads.complete(upload.id, part_ids=part_ids, md5="0" * 32)
    assert caught.value.param == "md5"

    done = client.uploads.complete(upload.id, part_ids=part_ids, md5=hashlib.md5(data).hexdigest())
    assert done.status == "completed"
    assert done.file is not None
    assert done.file.id.startswith("file-")
    assert (done.file.filename, done.file.bytes, done.file.purpose) == (
        "big.bin",
        len(data),
        "user_data",
    )
    assert client.files.content(done.file.id).read() == data
    with pytest.raises(openai.BadRequestError):
        client.uploads.cancel(upload.id)


def test_sdk_chunked_upload_and_expiry(client: openai.OpenAI) -> None:
    data = bytes(range(256)) * 10
    upload = client.uploads.upload_file_chunked(
        file=data,
        filename="c.bin",
        bytes=len(data),
        mime_type="application/octet-stream",
        purpose="assistants",
        part_size=1000,
    )
    assert upload.file is not None
    assert client.files.content(upload.file.id).read() == data

    made = client.uploads.create(
        bytes=1,
        filename="e.txt",
        mime_type="text/plain",
        purpose="batch",
        expires_after={"anchor": "created_at", "seconds": 7200},
    )
    part = client.uploads.parts.create(made.id, data=b"x")
    done = client.uploads.complete(made.id, part_ids=[part.id])
    assert done.file is not None
    assert done.file.expires_at == done.file.created_at + 7200


def test_cancel_and_404(client: openai.OpenAI) -> None:
    upload = client.uploads.create(
        bytes=3, filename="a.txt", mime_type="text/plain", purpose="user_data"
    )
    cancelled = client.uploads.cancel(upload.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        client.uploads.parts.create(upload.id, data=b"abc")
    with pytest.raises(openai.NotFoundError) as caught:
        client.uploads.cancel("upload_missing")
    assert (
        caught.value.response.json()["error"]["message"]
        == "No upload found with id 'upload_missing'."
    )
    with pytest.raises(openai.BadRequestError) as refused:
        client.uploads.create(
            bytes=0, filename="a.txt", mime_type="text/plain", purpose="user_data"
        )
    assert refused.value.param == "bytes"
