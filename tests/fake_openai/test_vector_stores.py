"""The fake's vector stores, driven with the official SDK and checked raw against its types:
stores, their files and file batches, search, counts and bytes, pagination and 404s."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from openai.types import VectorStore, VectorStoreDeleted, VectorStoreSearchResponse
from openai.types.vector_stores import (
    FileContentResponse,
    VectorStoreFile,
    VectorStoreFileBatch,
    VectorStoreFileDeleted,
)

from fake_openai.conformance import strict, strict_page

MANUAL = b"Lighthouse keepers trim the wick at dusk.\n\nThe fog horn sounds every minute in fog."
RECIPES = b"Bread needs flour, water, salt and yeast."


def raw_get(client: openai.OpenAI, path: str) -> Any:
    return client.get(path, cast_to=httpx.Response).json()


def add_file(client: openai.OpenAI, name: str, data: bytes) -> str:
    return client.files.create(file=(name, data), purpose="assistants").id


def test_store_lifecycle_counts_and_bytes(client: openai.OpenAI) -> None:
    manual, recipes = add_file(client, "manual.txt", MANUAL), add_file(client, "r.md", RECIPES)
    binary = add_file(client, "photo.png", b"\x89PNG\xff\xfe")
    store = client.vector_stores.create(
        name="docs",
        file_ids=[manual, recipes],
        metadata={"team": "a"},
        expires_after={"anchor": "last_active_at", "days": 2},
    )
    assert store.id.startswith("vs_")
    assert (store.object, store.status, store.name) == ("vector_store", "completed", "docs")
    assert store.file_counts.completed == store.file_counts.total == 2
    assert store.usage_bytes == len(MANUAL) + len(RECIPES)
    assert store.last_active_at is not None
    assert store.expires_at == store.last_active_at + 2 * 86400

    failed = client.vector_stores.files.create(vector_store_id=store.id, file_id=binary)
    assert failed.status == "failed"
    assert failed.last_error is not None
    assert failed.last_error.code == "unsupported_file"
    raw = raw_get(client, f"/vector_stores/{store.id}")
    again = strict(VectorStore, raw)
    assert (again.file_counts.failed, again.file_counts.total) == (1, 3)
    assert again.usage_bytes == store.usage_bytes, "a failed file stores nothing"

    updated = client.vector_stores.update(store.id, name="renamed", expires_after=None)
    assert (updated.name, updated.expires_at, updated.metadata) == ("renamed", None, {"team": "a"})

    raw = client.delete(f"/vector_stores/{store.id}", cast_to=httpx.Response).json()
    deleted = strict(VectorStoreDeleted, raw)
    assert (deleted.object, deleted.deleted) == ("vector_store.deleted", True)
    with pytest.raises(openai.NotFoundError) as caught:
        client.vector_stores.retrieve(store.id)
    assert (
        caught.value.response.json()["error"]["message"]
        == f"No vector store found with id '{store.id}'."
    )
    assert client.files.retrieve(manual).id == manual, "files outlive their stores"


def test_list_pagination(client: openai.OpenAI) -> None:
    ids = [client.vector_stores.create(name=f"s{i}").id for i in range(3)]
    raw = raw_get(client, "/vector_stores?limit=2")
    page = strict_page(VectorStore, raw)
    assert [s.id for s in page] == [ids[2], ids[1]]
    assert raw["has_more"] is True
    rest = client.vector_stores.list(limit=2, after=ids[1])
    assert [s.id for s in rest.data] == [ids[0]]
    assert rest.has_more is False
    before = client.vector_stores.list(limit=1, before=ids[0])
    assert [s.id for s in before.data] == [ids[1]]


def test_files_attach_update_content_and_detach(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="s")
    manual = add_file(client, "manual.txt", MANUAL)
    raw = client.post(
        f"/vector_stores/{store.id}/files",
        body={"file_id": manual, "attributes": {"lang": "en", "year": 2024}},
        cast_to=httpx.Response,
    ).json()
    attached = strict(VectorStoreFile, raw)
    assert (attached.id, attached.object, attached.status) == (
        manual,
        "vector_store.file",
        "completed",
    )
    assert attached.vector_store_id == store.id
    assert attached.usage_bytes == len(MANUAL)
    assert attached.attributes == {"lang": "en", "year": 2024}
    assert attached.chunking_strategy is not None
    assert attached.chunking_strategy.type == "static"

    updated = client.vector_stores.files.update(
        manual, vector_store_id=store.id, attributes={"lang": "fr"}
    )
    assert updated.attributes == {"lang": "fr"}
    listed = strict_page(VectorStoreFile, raw_get(client, f"/vector_stores/{store.id}/files"))
    assert [f.id for f in listed] == [manual]
    assert client.vector_stores.files.list(store.id, filter="failed").data == []

    content = raw_get(client, f"/vector_stores/{store.id}/files/{manual}/content")
    assert set(content) == {"object", "data", "has_more", "next_page"}
    assert content["object"] == "vector_store.file_content.page"
    texts = [strict(FileContentResponse, part).text for part in content["data"]]
    assert texts == [
        "Lighthouse keepers trim the wick at dusk.",
        "The fog horn sounds every minute in fog.",
    ]
    sdk_texts = [
        part.text for part in client.vector_stores.files.content(manual, vector_store_id=store.id)
    ]
    assert sdk_texts == texts

    raw = client.delete(f"/vector_stores/{store.id}/files/{manual}", cast_to=httpx.Response).json()
    assert strict(VectorStoreFileDeleted, raw).deleted is True
    assert client.vector_stores.retrieve(store.id).file_counts.total == 0
    with pytest.raises(openai.NotFoundError) as caught:
        client.vector_stores.files.retrieve(manual, vector_store_id=store.id)
    assert (
        caught.value.response.json()["error"]["message"]
        == f"No file found with id '{manual}' in vector store '{store.id}'."
    )


def test_attaching_unknown_file_is_404(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="s")
    with pytest.raises(openai.NotFoundError) as caught:
        client.vector_stores.files.create(vector_store_id=store.id, file_id="file-missing")
    assert (
        caught.value.response.json()["error"]["message"] == "No file found with id 'file-missing'."
    )
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.create(file_ids=["file-missing"])
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.file_batches.create(store.id, file_ids=["file-missing"])
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.create(vector_store_id="vs_missing", file_id="file-x")
    assert client.vector_stores.retrieve(store.id).file_counts.total == 0


def test_file_batches(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="s")
    ids = [add_file(client, f"f{i}.txt", f"text {i}".encode()) for i in range(3)]
    raw = client.post(
        f"/vector_stores/{store.id}/file_batches",
        body={"file_ids": ids, "attributes": {"k": "v"}},
        cast_to=httpx.Response,
    ).json()
    batch = strict(VectorStoreFileBatch, raw)
    assert batch.id.startswith("vsfb_")
    assert (batch.object, batch.status) == ("vector_store.files_batch", "completed")
    assert batch.file_counts.completed == batch.file_counts.total == 3
    polled = client.vector_stores.file_batches.create_and_poll(
        store.id, files=[{"file_id": ids[0], "attributes": {"k": "w"}}]
    )
    assert polled.file_counts.total == 1
    assert client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id) == batch
    assert (
        client.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id).status
        == "completed"
    )

    raw = raw_get(
        client, f"/vector_stores/{store.id}/file_batches/{batch.id}/files?order=asc&limit=2"
    )
    first = strict_page(VectorStoreFile, raw)
    assert [f.id for f in first] == ids[:2]
    assert raw["has_more"] is True
    every = client.vector_stores.file_batches.list_files(
        batch.id, vector_store_id=store.id, order="asc", limit=2
    )
    assert [f.id for f in every] == ids
    assert client.vector_stores.files.retrieve(ids[0], vector_store_id=store.id).attributes == {
        "k": "w"
    }
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.file_batches.retrieve("vsfb_missing", vector_store_id=store.id)


def test_search_is_deterministic_and_filtered(client: openai.OpenAI) -> None:
    manual = add_file(client, "manual.txt", MANUAL)
    recipes = add_file(client, "recipes.txt", RECIPES)
    store = client.vector_stores.create(name="s")
    client.vector_stores.files.create(
        vector_store_id=store.id, file_id=manual, attributes={"kind": "ops"}
    )
    client.vector_stores.files.create(
        vector_store_id=store.id, file_id=recipes, attributes={"kind": "food"}
    )

    raw = client.post(
        f"/vector_stores/{store.id}/search",
        body={"query": "fog horn bread"},
        cast_to=httpx.Response,
    ).json()
    assert set(raw) == {"object", "search_query", "data", "has_more", "next_page"}
    assert raw["object"] == "vector_store.search_results.page"
    assert raw["search_query"] == ["fog horn bread"]
    results = [strict(VectorStoreSearchResponse, hit) for hit in raw["data"]]
    assert [(r.file_id, r.score) for r in results] == [(manual, 0.6667), (recipes, 0.3333)]
    assert results[0].content[0].text == "The fog horn sounds every minute in fog."
    assert (results[0].filename, results[0].attributes) == ("manual.txt", {"kind": "ops"})

    again = client.post(
        f"/vector_stores/{store.id}/search",
        body={"query": "fog horn bread"},
        cast_to=httpx.Response,
    ).json()
    assert again == raw
    food = client.vector_stores.search(
        store.id, query="fog horn bread", filters={"type": "eq", "key": "kind", "value": "food"}
    )
    assert [r.file_id for r in food] == [recipes]
    top = client.vector_stores.search(
        store.id,
        query=["fog", "bread"],
        max_num_results=1,
        ranking_options={"score_threshold": 0.4},
    )
    assert [r.file_id for r in top] == [manual]
    with pytest.raises(openai.BadRequestError) as caught:
        client.vector_stores.search(store.id, query="x", max_num_results=51)
    assert caught.value.param == "max_num_results"


def test_sdk_upload_helpers(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="s")
    single = client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("notes.txt", MANUAL)
    )
    assert single.status == "completed"
    assert client.files.retrieve(single.id).purpose == "assistants"
    batch = client.vector_stores.file_batches.upload_and_poll(
        store.id, files=[("a.txt", RECIPES), ("b.txt", b"more text")]
    )
    assert batch.status == "completed"
    assert batch.file_counts.completed == 2
    assert client.vector_stores.retrieve(store.id).usage_bytes == len(MANUAL) + len(RECIPES) + 9
