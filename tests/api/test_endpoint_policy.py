"""A tenant's endpoint families and files policy, enforced before anything goes upstream."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
from harness import GatewayServer, config_dict

from fake_openai import FakeOpenAIServer

TENANTS = {
    "narrow": {
        "models": ["gpt-5-nano", "text-embedding-3-small"],
        "endpoints": ["responses", "embeddings", "files"],
        "files": {"max_bytes": 100, "purposes": ["assistants"]},
    },
    "few": {
        "models": ["gpt-5-nano", "gpt-image-1"],
        "files": {"max_files": 2},
        "images": {"max_per_request": 2},
    },
}


@pytest.fixture(scope="module")
def narrow_gateway(
    fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    db = tmp_path_factory.mktemp("policy") / "gateway.db"
    config = config_dict(fake_server.base_url, tenants=TENANTS)
    with GatewayServer(config, database_url=f"sqlite:///{db}") as gw:
        yield gw


@pytest.fixture
def narrow(narrow_gateway: GatewayServer) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=narrow_gateway.base_url, api_key=narrow_gateway.token("narrow"), max_retries=0
    )


def test_a_family_the_tenant_lacks_is_refused_before_the_upstream(
    narrow: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    before = len(fake.requests)
    for call in (
        lambda: narrow.chat.completions.create(
            model="gpt-5-nano", messages=[{"role": "user", "content": "hi"}]
        ),
        lambda: narrow.vector_stores.list(),
        lambda: narrow.conversations.create(),
    ):
        with pytest.raises(openai.PermissionDeniedError) as err:
            call()
        assert err.value.code == "endpoint_not_allowed"
    assert len(fake.requests) == before


def test_allowed_families_work(narrow: openai.OpenAI) -> None:
    assert narrow.embeddings.create(model="text-embedding-3-small", input="x").data
    assert narrow.files.create(file=("a.txt", b"small"), purpose="assistants").id


def test_files_policy_purpose_and_size(narrow: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    before = len(fake.requests)
    with pytest.raises(openai.PermissionDeniedError) as denied:
        narrow.files.create(file=("a.jsonl", b"{}"), purpose="batch")
    assert denied.value.code == "purpose_not_allowed"
    with pytest.raises(openai.APIStatusError) as large:
        narrow.files.create(file=("a.txt", b"x" * 101), purpose="assistants")
    assert (large.value.status_code, large.value.code) == (413, "file_too_large")
    with pytest.raises(openai.APIStatusError) as declared:
        narrow.uploads.create(filename="b", purpose="assistants", bytes=101, mime_type="text/plain")
    assert declared.value.code == "file_too_large"
    assert len(fake.requests) == before


def test_a_tenant_at_its_file_limit_deletes_before_it_adds(
    narrow_gateway: GatewayServer, fake: FakeOpenAIServer
) -> None:
    few = openai.OpenAI(
        base_url=narrow_gateway.base_url, api_key=narrow_gateway.token("few"), max_retries=0
    )
    first = few.files.create(file=("1.txt", b"one"), purpose="assistants")
    few.files.create(file=("2.txt", b"two"), purpose="assistants")
    before = len(fake.requests)
    with pytest.raises(openai.PermissionDeniedError) as full:
        few.files.create(file=("3.txt", b"three"), purpose="assistants")
    assert full.value.code == "file_limit_reached"
    with pytest.raises(openai.PermissionDeniedError):
        few.uploads.create(filename="4.txt", purpose="assistants", bytes=4, mime_type="text/plain")
    assert len(fake.requests) == before
    few.files.delete(first.id)
    assert few.files.create(file=("3.txt", b"three"), purpose="assistants").id


def test_an_upload_that_is_not_a_form_is_refused_before_the_upstream(
    narrow_gateway: GatewayServer, fake: FakeOpenAIServer
) -> None:
    before = len(fake.requests)
    answer = httpx.post(
        f"{narrow_gateway.base_url}/files",
        json={"purpose": "assistants", "file": "inline text"},
        headers={"Authorization": f"Bearer {narrow_gateway.token('narrow')}"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_content_type"
    assert len(fake.requests) == before


def test_images_per_call_are_held_to_the_tenants_limit(
    narrow_gateway: GatewayServer, fake: FakeOpenAIServer
) -> None:
    few = openai.OpenAI(
        base_url=narrow_gateway.base_url, api_key=narrow_gateway.token("few"), max_retries=0
    )
    before = len(fake.requests)
    with pytest.raises(openai.PermissionDeniedError) as err:
        few.images.generate(model="gpt-image-1", prompt="three cats", n=3)
    assert err.value.code == "too_many_images"
    assert len(fake.requests) == before
    assert few.images.generate(model="gpt-image-1", prompt="two cats", n=2).data
