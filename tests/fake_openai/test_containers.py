"""The fake's containers, driven with the official SDK and checked raw against its types:
containers and their files (multipart upload or a copied file), content, pagination, 404s."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai.types import ContainerCreateResponse, ContainerListResponse
from openai.types.containers import FileCreateResponse, FileListResponse

from fake_openai.conformance import strict, strict_page


def test_container_lifecycle_and_listing(client: openai.OpenAI) -> None:
    source = client.files.create(file=("data.csv", b"a,b\n1,2\n"), purpose="user_data").id
    raw = client.post(
        "/containers",
        body={"name": "box", "file_ids": [source], "memory_limit": "4g"},
        cast_to=httpx.Response,
    ).json()
    created = strict(ContainerCreateResponse, raw)
    assert created.id.startswith("cntr_")
    assert (created.object, created.status, created.name, created.memory_limit) == (
        "container",
        "running",
        "box",
        "4g",
    )
    assert created.expires_after is not None
    assert created.expires_after.minutes == 20
    (copied,) = client.containers.files.list(created.id).data
    assert (copied.path, copied.bytes, copied.source) == ("/mnt/data/data.csv", 8, "user")

    other = client.containers.create(name="other").id
    raw = client.get("/containers?limit=1", cast_to=httpx.Response).json()
    assert [c.id for c in strict_page(ContainerListResponse, raw)] == [other]
    assert raw["has_more"]
    assert [c.id for c in client.containers.list(name="box")] == [created.id]
    assert [c.id for c in client.containers.list(limit=1)] == [other, created.id]

    client.containers.delete(created.id)
    with pytest.raises(openai.NotFoundError) as caught:
        client.containers.retrieve(created.id)
    assert (
        caught.value.response.json()["error"]["message"]
        == f"No container found with id '{created.id}'."
    )
    with pytest.raises(openai.NotFoundError):
        client.containers.create(name="x", file_ids=["file-missing"])


def test_container_files(client: openai.OpenAI) -> None:
    container = client.containers.create(
        name="box", expires_after={"anchor": "last_active_at", "minutes": 5}
    )
    raw = client.post(
        f"/containers/{container.id}/files",
        body=None,
        files=[("file", ("script.py", b"print(1)\n"))],
        options={"headers": {"Content-Type": "multipart/form-data"}},
        cast_to=httpx.Response,
    ).json()
    uploaded = strict(FileCreateResponse, raw)
    assert uploaded.id.startswith("cfile_")
    assert (uploaded.object, uploaded.container_id, uploaded.path) == (
        "container.file",
        container.id,
        "/mnt/data/script.py",
    )
    source = client.files.create(file=("in.txt", b"text"), purpose="user_data").id
    copied = client.containers.files.create(container.id, file_id=source)
    assert (copied.path, copied.bytes) == ("/mnt/data/in.txt", 4)

    raw = client.get(f"/containers/{container.id}/files?order=asc", cast_to=httpx.Response).json()
    assert [f.id for f in strict_page(FileListResponse, raw)] == [uploaded.id, copied.id]
    assert client.containers.files.retrieve(copied.id, container_id=container.id).id == copied.id
    content = client.containers.files.content.retrieve(uploaded.id, container_id=container.id)
    assert content.read() == b"print(1)\n"

    client.containers.files.delete(uploaded.id, container_id=container.id)
    with pytest.raises(openai.NotFoundError) as caught:
        client.containers.files.retrieve(uploaded.id, container_id=container.id)
    assert (
        caught.value.response.json()["error"]["message"]
        == f"No file found with id '{uploaded.id}' in container '{container.id}'."
    )
    with pytest.raises(openai.NotFoundError):
        client.containers.files.create(container.id, file_id="file-missing")
    with pytest.raises(openai.BadRequestError):
        client.containers.create(name="x", memory_limit="2g")  # type: ignore[arg-type]
