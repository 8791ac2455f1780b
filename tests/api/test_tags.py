"""Cost attribution by tags, end to end through the official SDK: the header and `metadata`
tag a call's ledger row, usage groups by a tag, bad tags are refused, nothing goes upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest
from harness import GatewayServer, ledger_row, ledger_rows, sdk, tenants_gateway

from fake_openai import FakeOpenAIServer

TENANTS = {
    "tagged": {"models": ["*"], "tags": {"keys": ["feature", "env"], "from_metadata": True}},
    "plain": {"models": ["*"]},
}


@pytest.fixture(scope="module")
def gw(fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:  # fmt: skip
    with tenants_gateway(fake_server.base_url, tmp_path_factory, TENANTS, "tags") as server:
        yield server


def test_tags_reach_the_ledger_and_usage_groups_by_them_and_never_go_upstream(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    client = sdk(gw, "tagged")
    ids = [
        client.responses.with_raw_response.create(
            model="gpt-5-nano", input="hi", extra_headers={"x-gateway-tags": tags}
        ).headers["x-gateway-request-id"]
        for tags in ("feature=search,env=prod", "env=prod, feature=search", "feature=chat")
    ]
    via_metadata = client.chat.completions.with_raw_response.create(
        model="gpt-5-nano",
        messages=[{"role": "user", "content": "hi"}],
        metadata={"feature": "chat", "env": "dev", "note": "not a tag"},
        store=True,
        extra_headers={"x-gateway-tags": "env=staging"},  # the header wins over metadata
    )
    ids.append(via_metadata.headers["x-gateway-request-id"])
    ids.append(
        client.responses.with_raw_response.create(model="gpt-5-nano", input="hi").headers[
            "x-gateway-request-id"
        ]
    )
    rows = {r["request_id"]: r for r in ledger_rows(gw.database_url, at_least=len(ids))}
    assert [rows[i]["tags"] for i in ids] == [
        "env=prod,feature=search",
        "env=prod,feature=search",
        "feature=chat",
        "env=staging,feature=chat",
        None,
    ]
    assert len(fake.requests) == 5
    for sent in fake.requests:
        assert "x-gateway-tags" not in sent.headers
    sent_metadata = json.loads(fake.requests[3].body)["metadata"]
    assert sent_metadata == {"feature": "chat", "env": "dev", "note": "not a tag"}  # as it came

    mine = httpx.get(
        f"{gw.root}/v1/gateway/usage",
        params={"group_by": "tag:feature"},
        headers={"Authorization": f"Bearer {gw.token('tagged')}"},
    )
    assert mine.status_code == 200
    assert [(g["tag"], g["requests"]) for g in mine.json()["data"]] == [
        ("(none)", 1),
        ("chat", 2),
        ("search", 2),
    ]
    admin = httpx.get(
        f"{gw.root}/admin/usage",
        params={"group_by": "tenant,tag:env", "tenant": "tagged"},
        headers={"Authorization": f"Bearer {gw.token('alpha', admin=True)}"},
    ).json()
    assert [(g["tenant"], g["tag"], g["requests"]) for g in admin["data"]] == [
        ("tagged", "(none)", 2),
        ("tagged", "prod", 2),
        ("tagged", "staging", 1),
    ]


def test_an_unknown_tag_key_is_refused_before_any_upstream_call(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    for tenant, tags, allowed in (
        ("tagged", "featrue=search", "env, feature"),
        ("plain", "feature=search", "none"),
    ):
        with pytest.raises(openai.BadRequestError) as refused:
            sdk(gw, tenant).responses.create(
                model="gpt-5-nano", input="hi", extra_headers={"x-gateway-tags": tags}
            )
        error = refused.value.body
        assert isinstance(error, dict)
        assert error["code"] == "invalid_tags"
        assert error["param"] == "x-gateway-tags"
        assert f"this tenant allows: {allowed}" in error["message"]
    with pytest.raises(openai.BadRequestError) as bad_value:
        sdk(gw, "tagged").responses.create(
            model="gpt-5-nano", input="hi", metadata={"feature": "has space"}
        )
    assert (bad_value.value.code, bad_value.value.param) == ("invalid_tags", "metadata")
    assert fake.requests == []


def test_a_tenant_without_tags_ignores_metadata(gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    raw = sdk(gw, "plain").responses.with_raw_response.create(
        model="gpt-5-nano", input="hi", metadata={"feature": "has space"}
    )
    assert raw.http_response.status_code == 200
    rid = raw.headers["x-gateway-request-id"]
    assert ledger_row(gw.database_url, request_id=rid)["tags"] is None
    assert len(fake.requests) == 1


def test_bad_tag_group_keys_are_refused(gw: GatewayServer) -> None:
    for group_by, says in (
        ("tag:feature,tag:env", "one tag key at a time"),
        ("tag:Bad'", "names no possible tag key"),
    ):
        resp = httpx.get(
            f"{gw.root}/v1/gateway/usage",
            params={"group_by": group_by},
            headers={"Authorization": f"Bearer {gw.token('tagged')}"},
        )
        assert resp.status_code == 400
        assert resp.json()["error"]["param"] == "group_by"
        assert says in resp.json()["error"]["message"]
