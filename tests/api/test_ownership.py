"""Tenant isolation of stored responses: another tenant's id looks exactly like a missing one."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import openai
import pytest
from harness import GatewayServer

from fake_openai import FakeOpenAIServer


@pytest.fixture
def mine(alpha: openai.OpenAI) -> str:
    return alpha.responses.create(model="gpt-5-nano", input="alpha's secret plan").id


def test_other_tenant_gets_404_on_every_object_endpoint(
    mine: str, client_for: Callable[[str], openai.OpenAI], fake: FakeOpenAIServer
) -> None:
    beta = client_for("beta")
    before = len(fake.requests)
    for call in (
        lambda: beta.responses.retrieve(mine),
        lambda: beta.responses.delete(mine),
        lambda: beta.responses.cancel(mine),
        lambda: beta.responses.input_items.list(mine),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    assert len(fake.requests) == before, "a foreign id must never reach the upstream"


def test_foreign_id_and_missing_id_are_indistinguishable(mine: str, gateway: GatewayServer) -> None:
    headers = {"Authorization": f"Bearer {gateway.token('beta')}"}
    foreign = httpx.get(f"{gateway.base_url}/responses/{mine}", headers=headers)
    missing_id = "resp_" + "0" * 48
    missing = httpx.get(f"{gateway.base_url}/responses/{missing_id}", headers=headers)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["error"]["message"].replace(mine, "X") == missing.json()["error"][
        "message"
    ].replace(missing_id, "X")


def test_previous_response_id_of_another_tenant_is_refused(
    mine: str, client_for: Callable[[str], openai.OpenAI], fake: FakeOpenAIServer
) -> None:
    beta = client_for("beta")
    before = len(fake.requests)
    with pytest.raises(openai.BadRequestError) as err:
        beta.responses.create(model="gpt-5-nano", input="continue", previous_response_id=mine)
    assert err.value.code == "previous_response_not_found"
    assert len(fake.requests) == before


def test_owner_still_reaches_its_response(mine: str, alpha: openai.OpenAI) -> None:
    assert alpha.responses.retrieve(mine).id == mine


def test_ownership_survives_a_restart(fake_server: FakeOpenAIServer, db_url: str) -> None:
    from harness import config_dict

    config = config_dict(fake_server.base_url)
    with GatewayServer(config, database_url=db_url) as first:
        client = openai.OpenAI(base_url=first.base_url, api_key=first.token("alpha"), max_retries=0)
        rid = client.responses.create(model="gpt-5-nano", input="keep me").id
    with GatewayServer(config, database_url=db_url) as second:
        alpha = openai.OpenAI(
            base_url=second.base_url, api_key=second.token("alpha"), max_retries=0
        )
        beta = openai.OpenAI(base_url=second.base_url, api_key=second.token("beta"), max_retries=0)
        assert alpha.responses.retrieve(rid).id == rid
        with pytest.raises(openai.NotFoundError):
            beta.responses.retrieve(rid)
