"""Batches through the gateway: held at their bound from submit, billed once when they end.

A batch's bound (the sum of its lines' bounds at the batch price) is reserved
and charged as a ``pending`` ledger row when it is submitted; when the batch
ends — seen by the client's retrieve or list, or by the gateway's own watcher,
on any replica and after a restart — that row becomes its bill, once, and
the budget gets the difference back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import openai
import pytest
from harness import GatewayServer, config_dict, ledger_row, ledger_rows
from openai.types.batch_usage import BatchUsage

from fake_openai import FakeOpenAIServer

T = TypeVar("T")
NANO_INPUT, NANO_CACHED, NANO_OUTPUT = 50, 5, 400  # gpt-5-nano, nano-USD per token
TENANTS = {
    "batcher": {
        "models": ["gpt-5-nano", "gpt-5-mini"],
        "max_output_tokens": 200,
        "budgets": {"daily_usd": 0.01},
    },
}


def lines(n: int, *, model: str = "gpt-5-nano", **body: Any) -> bytes:
    """A batch input file of ``n`` Responses requests."""
    return b"".join(
        json.dumps(
            {
                "custom_id": f"req-{i}",
                "method": "POST",
                "url": "/v1/responses",
                "body": {"model": model, "input": f"question {i}", **body},
            }
        ).encode()
        + b"\n"
        for i in range(n)
    )


def submit(client: openai.OpenAI, content: bytes) -> tuple[str, str]:
    """(batch id, the create call's request id)."""
    file = client.files.create(file=("in.jsonl", content), purpose="batch")
    raw = client.batches.with_raw_response.create(
        input_file_id=file.id, endpoint="/v1/responses", completion_window="24h"
    )
    return raw.parse().id, raw.headers["x-gateway-request-id"]


def batch_cost(usage: BatchUsage | None) -> int:
    assert usage is not None
    cached = usage.input_tokens_details.cached_tokens
    tokens: int = (
        (usage.input_tokens - cached) * NANO_INPUT
        + cached * NANO_CACHED
        + usage.output_tokens * NANO_OUTPUT
    )
    return math.ceil(tokens / 2)  # the batch price: half


@pytest.fixture(scope="module")
def gw(
    fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    url = f"sqlite:///{tmp_path_factory.mktemp('batches') / 'gateway.db'}"
    with GatewayServer(config_dict(fake_server.base_url, tenants=TENANTS), database_url=url) as g:
        yield g


@pytest.fixture
def batcher(gw: GatewayServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=gw.token("batcher"), max_retries=0)


def spent_and_reserved(gw: GatewayServer) -> tuple[float, float]:
    body = httpx.get(
        f"{gw.root}/v1/gateway/usage", headers={"Authorization": f"Bearer {gw.token('batcher')}"}
    ).json()
    (budget,) = body["budgets"]
    return float(budget["spent_usd"]), float(budget["reserved_usd"])


def test_a_batch_is_held_at_its_bound_then_billed_once_at_the_batch_price(
    gw: GatewayServer, batcher: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    spent_before, _ = spent_and_reserved(gw)
    batch_id, request_id = submit(batcher, lines(3, max_output_tokens=100))
    held = ledger_row(gw.database_url, request_id=request_id)
    assert (held["endpoint"], held["outcome"], held["estimated"]) == ("batches", "pending", True)
    assert held["response_id"] == batch_id
    bound = int(held["cost_nanos"])  # type: ignore[call-overload]
    # Each line: its JSON bytes as input tokens at the input price, 100 output tokens.
    assert 3 * 100 * NANO_OUTPUT // 2 < bound < 3 * (100 * NANO_OUTPUT + 200 * NANO_INPUT) // 2
    assert spent_and_reserved(gw)[0] == pytest.approx(spent_before + bound / 1e9, abs=1e-6)

    fake.finish_batch(batch_id)
    done = batcher.batches.retrieve(batch_id)
    assert done.status == "completed"
    assert done.usage is not None
    cost = batch_cost(done.usage)
    assert 0 < cost < bound
    for _ in range(3):  # retrieving and listing again bills nothing more
        batcher.batches.retrieve(batch_id)
        assert batch_id in [b.id for b in batcher.batches.list()]
    rows = [r for r in ledger_rows(gw.database_url) if r["request_id"] == request_id]
    assert len(rows) == 1, "one row per batch, however often it is seen"
    (row,) = rows
    assert (row["outcome"], row["estimated"], row["cost_nanos"]) == ("completed", False, cost)
    assert row["input_tokens"] + row["cached_input_tokens"] == done.usage.input_tokens  # type: ignore[operator]
    assert row["output_tokens"] == done.usage.output_tokens
    assert spent_and_reserved(gw)[0] == pytest.approx(spent_before + cost / 1e9, abs=1e-6)
    assert gw.watch_round() == 0, "the watcher finds nothing left to bill"


def test_the_watcher_bills_a_batch_nobody_asks_about(
    gw: GatewayServer, batcher: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    batch_id, request_id = submit(batcher, lines(2, max_output_tokens=50))
    assert gw.watch_round(10) == 0, "the first look is 30 s after submitting"
    assert gw.watch_round(40) == 0, "looked: still running upstream"
    assert ledger_row(gw.database_url, request_id=request_id)["outcome"] == "pending"
    ended = fake.finish_batch(batch_id)
    assert gw.watch_round(50) == 0, "the next look is 30 s after the last"
    assert gw.watch_round(3600) == 1
    row = ledger_row(gw.database_url, request_id=request_id)
    assert row["outcome"] == "completed"
    expected = openai.types.Batch.model_validate(ended)
    assert row["cost_nanos"] == batch_cost(expected.usage)


def test_a_cancelled_batch_is_billed_for_what_ran_and_gives_the_rest_back(
    gw: GatewayServer, batcher: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    spent_before, _ = spent_and_reserved(gw)
    batch_id, request_id = submit(batcher, lines(2, max_output_tokens=50))
    assert batcher.batches.cancel(batch_id).status == "cancelling"
    fake.finish_batch(batch_id)  # the fake's cancelled batch ran nothing
    assert batcher.batches.retrieve(batch_id).status == "cancelled"
    row = ledger_row(gw.database_url, request_id=request_id)
    assert (row["outcome"], row["cost_nanos"]) == ("cancelled", 0)
    assert spent_and_reserved(gw)[0] == pytest.approx(spent_before, abs=1e-9)


def test_a_strict_budget_refuses_a_batch_that_could_cost_more_than_is_left(
    gw: GatewayServer, batcher: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    big = lines(400, max_output_tokens=200)  # 400 x 200 output tokens at $0.20/M: $0.016
    file = batcher.files.create(file=("big.jsonl", big), purpose="batch")
    before = len(fake.requests)
    with pytest.raises(openai.RateLimitError) as err:
        batcher.batches.create(
            input_file_id=file.id, endpoint="/v1/responses", completion_window="24h"
        )
    assert err.value.code == "budget_exceeded"
    assert [r.path for r in fake.requests[before:]] == [f"/v1/files/{file.id}/content"]


@pytest.mark.parametrize(
    ("content", "error", "code"),
    [
        (lines(1), openai.BadRequestError, "invalid_batch_line"),  # no output cap: 200 < model's
        (lines(1, max_output_tokens=500), openai.BadRequestError, "invalid_batch_line"),
        (lines(1, model="gpt-4.1", max_output_tokens=10), openai.PermissionDeniedError,
         "model_not_allowed"),
        (lines(1, max_output_tokens=10, stream=True), openai.BadRequestError, "invalid_batch_line"),
        (lines(1, max_output_tokens=10) + lines(1, model="gpt-5-mini", max_output_tokens=10),
         openai.BadRequestError, "invalid_batch_line"),
        (lines(1, max_output_tokens=10, tools=[{"type": "web_search"}]),
         openai.BadRequestError, "invalid_batch_line"),  # no max_tool_calls: unbounded fees
        (b"not json\n", openai.BadRequestError, "invalid_batch_line"),
        (b"\n", openai.BadRequestError, None),
    ],
)  # fmt: skip
def test_a_line_the_policy_would_have_to_rewrite_is_refused_before_submitting(
    content: bytes,
    error: type[openai.APIStatusError],
    code: str | None,
    batcher: openai.OpenAI,
    fake: FakeOpenAIServer,
) -> None:
    file = batcher.files.create(file=("in.jsonl", content), purpose="batch")
    with pytest.raises(error) as err:
        batcher.batches.create(
            input_file_id=file.id, endpoint="/v1/responses", completion_window="24h"
        )
    assert err.value.code == code
    assert not [r for r in fake.requests if r.method == "POST" and r.path == "/v1/batches"]


def test_the_files_a_batch_made_are_its_tenants(
    gw: GatewayServer,
    batcher: openai.OpenAI,
    client_for: Callable[[str], openai.OpenAI],
    fake: FakeOpenAIServer,
) -> None:
    batch_id, _ = submit(batcher, lines(1, max_output_tokens=20))
    fake.finish_batch(batch_id)
    done = batcher.batches.retrieve(batch_id)
    assert done.output_file_id is not None
    out = batcher.files.content(done.output_file_id).text
    assert json.loads(out.splitlines()[0])["custom_id"] == "req-0"
    other = openai.OpenAI(base_url=gw.base_url, api_key=gw.token("alpha"), max_retries=0)
    for call in (
        lambda: other.batches.retrieve(batch_id),
        lambda: other.batches.cancel(batch_id),
        lambda: other.files.content(done.output_file_id or ""),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    assert batch_id not in [b.id for b in other.batches.list()]


def test_a_line_naming_another_tenants_object_is_refused_as_missing(
    gw: GatewayServer, batcher: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    other = openai.OpenAI(base_url=gw.base_url, api_key=gw.token("alpha"), max_retries=0)
    theirs = other.responses.create(model="gpt-5-nano", input="alpha's").id
    content = lines(1, max_output_tokens=10, previous_response_id=theirs)
    file = batcher.files.create(file=("in.jsonl", content), purpose="batch")
    with pytest.raises(openai.BadRequestError) as err:  # as a missing previous response
        batcher.batches.create(
            input_file_id=file.id, endpoint="/v1/responses", completion_window="24h"
        )
    assert "not found" in err.value.message
    assert not [r for r in fake.requests if r.method == "POST" and r.path == "/v1/batches"]


def test_a_batch_is_billed_by_a_gateway_that_restarted_meanwhile(
    fake: FakeOpenAIServer, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    config = config_dict(fake.base_url, tenants=TENANTS)
    with GatewayServer(config, database_url=url) as first:
        client = openai.OpenAI(base_url=first.base_url, api_key=first.token("batcher"))
        batch_id, request_id = submit(client, lines(2, max_output_tokens=50))
        bound = int(ledger_row(url, request_id=request_id)["cost_nanos"])  # type: ignore[call-overload]
    ended = fake.finish_batch(batch_id)
    with GatewayServer(config, database_url=url) as second:
        assert spent_and_reserved(second)[0] == pytest.approx(bound / 1e9, abs=1e-6)
        assert second.watch_round() == 1
        cost = batch_cost(openai.types.Batch.model_validate(ended).usage)
        assert ledger_row(url, request_id=request_id)["cost_nanos"] == cost
        assert spent_and_reserved(second)[0] == pytest.approx(cost / 1e9, abs=1e-6)
