"""A held call's bill: its reported usage at its tier's price, never a guess below its bound."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from harness import PRICING

from gateway.deferred.bill import bill, next_check_s, usage_of_lines
from gateway.deferred.table import PendingCharge
from gateway.metering.usage import Usage
from gateway.pricing import load_pricing

PRICES = load_pricing(PRICING)  # gpt-5-nano: 50 / 5 / 400 nano-USD per token; batch: half

BOUND = 1_000_000


def charge() -> PendingCharge:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    return PendingCharge(
        object_id="batch_1", kind="batch", tenant="t", request_id="r", attempt=1,
        model="gpt-5-nano", upstream="openai", bound_nanos=BOUND, counters="[]",
        created_at=now, next_check_at=now,
    )  # fmt: skip


USAGE = {
    "input_tokens": 1000,
    "input_tokens_details": {"cached_tokens": 200},
    "output_tokens": 300,
    "output_tokens_details": {"reasoning_tokens": 100},
}


def test_reported_usage_is_billed_at_the_batch_price() -> None:
    ended = {"id": "batch_1", "status": "completed", "model": "gpt-5-nano", "usage": USAGE}
    billed = bill(charge(), ended, PRICES, "batch")
    assert billed.usage == Usage(
        input_tokens=800, cached_input_tokens=200, output_tokens=300, reasoning_tokens=100
    )
    assert billed.cost == (800 * 50 + 200 * 5 + 300 * 400) // 2
    assert (billed.outcome, billed.served_model, billed.estimated) == (
        "completed",
        "gpt-5-nano",
        False,
    )
    assert billed.ledger_values()["cost_nanos"] == billed.cost


CHAT_USAGE = {
    "prompt_tokens": 10,
    "completion_tokens": 5,
    "prompt_tokens_details": {"cached_tokens": 4},
}


def test_without_usage_the_output_files_lines_are_summed_in_any_dialect() -> None:
    lines = [
        {"response": {"status_code": 200, "body": {"usage": USAGE}}},
        {"response": {"status_code": 200, "body": {"usage": CHAT_USAGE}}},
        {"error": {"message": "failed line"}},
    ]
    output = b"\n".join(orjson.dumps(line) for line in lines) + b"\nnot json\n"
    assert usage_of_lines(output) == Usage(
        input_tokens=806, cached_input_tokens=204, output_tokens=305, reasoning_tokens=100
    )
    ended = {"id": "batch_1", "status": "completed", "output_file_id": "file_out"}
    assert bill(charge(), ended, PRICES, "batch", output).usage == usage_of_lines(output)


def test_a_batch_that_ran_nothing_costs_nothing() -> None:
    ended = {"status": "failed", "request_counts": {"total": 3, "completed": 0, "failed": 0}}
    assert bill(charge(), ended, PRICES, "batch").cost == 0


def test_when_nothing_says_what_ran_the_bound_is_billed_as_an_estimate() -> None:
    for ended in (
        {"status": "expired", "request_counts": {"total": 3, "completed": 2, "failed": 0}},
        {"status": "vanished"},
    ):
        billed = bill(charge(), ended, PRICES, "batch")
        assert (billed.cost, billed.estimated, billed.outcome) == (BOUND, True, ended["status"])


def test_a_model_no_longer_priced_keeps_its_bound_flagged_unpriced() -> None:
    ended = {"status": "completed", "usage": USAGE}
    unknown = charge().model_copy(update={"model": "not-a-priced-model"})
    billed = bill(unknown, ended, PRICES, "batch")
    assert (billed.cost, billed.unpriced) == (BOUND, True)


def test_a_running_object_is_asked_about_less_and_less_often() -> None:
    waits = [next_check_s(n, 30, 600) for n in range(8)]
    assert waits[:5] == [30, 60, 120, 240, 480]
    assert waits[5:] == [600, 600, 600]
