"""A deprecated model named by a batch's input file, through the SDK.

The lines go upstream as written, so the gateway cannot serve a replacement in the
model's place: a warned model's batch is created with the Deprecation/Sunset headers
and counted; a refused one, and one the gateway would rewrite, are refused at create,
naming the model the file names and the replacement, before anything goes upstream.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping

import openai
import pytest
from day import pinned_day
from harness import GatewayServer, config_dict, merged, metric_value
from openai.types import Batch

from fake_openai import FakeOpenAIServer

DEPRECATIONS = {
    "gpt-4.1": {"sunset": "2027-01-14", "replacement": "gpt-5-mini"},  # warns
    "gpt-5-mini": {"sunset": "2026-10-23", "replacement": "gpt-5-nano", "action": "rewrite"},
    "gpt-4.1-nano": {"sunset": "2026-10-23", "replacement": "gpt-4.1-mini", "action": "refuse"},
}
TENANTS = {"old-batch": {"models": ["*"], "max_output_tokens": 200}}


@pytest.fixture(scope="module")
def gw(
    fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    db = tmp_path_factory.mktemp("dep-batches") / "gateway.db"
    config = merged(
        config_dict(fake_server.base_url, tenants=TENANTS),
        {"models": {"gpt-4.1-nano": {}}, "deprecations": DEPRECATIONS},
    )
    with pinned_day(dt.date(2026, 12, 5)), GatewayServer(config, database_url=f"sqlite:///{db}") as g:  # fmt: skip
        yield g


def sdk(gw: GatewayServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=gw.token("old-batch"), max_retries=0)


def calls(gw: GatewayServer, model: str, action: str) -> float:
    return metric_value(
        gw, "gateway_deprecated_model_calls_total",
        tenant="old-batch", service="_none", model=model, action=action,
    )  # fmt: skip


def input_file(client: openai.OpenAI, model: str) -> str:
    line = {
        "custom_id": "req-0",
        "method": "POST",
        "url": "/v1/responses",
        "body": {"model": model, "input": "hi", "max_output_tokens": 20},
    }
    return client.files.create(file=("in.jsonl", json.dumps(line).encode()), purpose="batch").id


def create(client: openai.OpenAI, file_id: str) -> tuple[Batch, Mapping[str, str]]:
    raw = client.batches.with_raw_response.create(
        input_file_id=file_id, endpoint="/v1/responses", completion_window="24h"
    )
    return raw.parse(), raw.headers


def batches_sent(fake: FakeOpenAIServer) -> int:
    return len([r for r in fake.requests if r.method == "POST" and r.path == "/v1/batches"])


def test_a_batch_of_a_warned_model_is_created_with_the_headers_and_counted(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    before = calls(gw, "gpt-4.1", "warn")
    batch, headers = create(sdk(gw), input_file(sdk(gw), "gpt-4.1"))
    assert batch.status in ("validating", "in_progress")
    assert headers["sunset"] == "Thu, 14 Jan 2027 00:00:00 GMT"
    assert headers["deprecation"].startswith("@")
    assert "x-gateway-rewritten-from" not in headers
    assert calls(gw, "gpt-4.1", "warn") == before + 1
    assert batches_sent(fake) == 1


def test_a_batch_of_a_refused_model_is_refused_at_create_naming_it(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    before = calls(gw, "gpt-4.1-nano", "refuse")
    file_id = input_file(sdk(gw), "gpt-4.1-nano")
    with pytest.raises(openai.NotFoundError) as err:
        create(sdk(gw), file_id)
    assert (err.value.code, err.value.param) == ("model_not_found", "input_file_id")
    assert "`gpt-4.1-nano` (in the input file)" in err.value.message
    assert "`gpt-4.1-mini`" in err.value.message
    assert err.value.response.headers["sunset"] == "Fri, 23 Oct 2026 00:00:00 GMT"
    assert calls(gw, "gpt-4.1-nano", "refuse") == before + 1
    assert batches_sent(fake) == 0


def test_a_batch_of_a_rewritten_model_is_refused_not_silently_changed(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    before = calls(gw, "gpt-5-mini", "refuse")
    file_id = input_file(sdk(gw), "gpt-5-mini")
    with pytest.raises(openai.BadRequestError) as err:
        create(sdk(gw), file_id)
    assert (err.value.code, err.value.param) == ("model_deprecated", "input_file_id")
    assert "`gpt-5-mini` (in the input file)" in err.value.message
    assert "name `gpt-5-nano` instead" in err.value.message
    headers = err.value.response.headers
    assert headers["sunset"] == "Fri, 23 Oct 2026 00:00:00 GMT"
    assert "x-gateway-rewritten-from" not in headers, "nothing was rewritten"
    assert calls(gw, "gpt-5-mini", "refuse") == before + 1
    assert batches_sent(fake) == 0
