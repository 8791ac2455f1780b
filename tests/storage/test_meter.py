"""The storage meter: each vector store charged once per UTC day, across replicas, as ledger rows.

Against the fake upstream (its stores report ``usage_bytes``, the bytes of their text
files) and a real database of each dialect. The clock is the argument of ``run_once``:
a run an hour into tomorrow charges today, the last full day.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import openai
import pytest
from harness import GatewayServer, config_dict
from poll import eventually
from storage.rig import (
    MB,
    PRICE,
    UNPRICED,
    charges,
    delete_store,
    gateway_config,
    make_store,
    polls,
    running,
    storage_meter,
    storage_rows,
    today,
    tomorrow,
)

from fake_openai import FakeOpenAIServer, Fault
from gateway.services import Services
from gateway.storage import sql
from gateway.storage.charge import ENDPOINT, FEE, charge_id

THRIFTY = {"thrifty": {"models": ["*"], "budgets": {"daily_usd": 1}}}


async def spent(services: Services, tenant: str) -> int:
    """The tenant's spend today as its budget counts it (what quota status shows)."""
    policy = services.config.tenants[tenant]
    [day] = await services.quota.budget_status(tenant, policy, time.time())
    assert day.reserved_nanos == 0, "settled: nothing left held"
    return day.spent_nanos


def test_each_store_is_charged_once_a_day_at_its_size_in_started_megabytes(
    fake: FakeOpenAIServer, storage_db_url: str
) -> None:
    small, large, empty = make_store(fake, 11), make_store(fake, 2 * MB + 1), make_store(fake, 0)
    day = str(today())

    async def scenario() -> None:
        async with running(gateway_config(fake.base_url), storage_db_url) as services:
            await services.ownership.record_now(small, "alpha", "vector_store")
            await services.ownership.record_now(large, "beta", "vector_store")
            await services.ownership.record_now(empty, "alpha", "vector_store")
            meter = storage_meter(services)
            run = await meter.run_once(tomorrow())
            assert (run.polled, run.charged, run.empty, run.taken) == (3, 2, 1, 0)
            rows = await storage_rows(services)
            by_store = {row["response_id"]: row for row in rows}
            assert set(by_store) == {small, large}, "one row per store with bytes, none at 0"
            for store_id, tenant, units in ((small, "alpha", 1), (large, "beta", 3)):
                row = by_store[store_id]
                assert row["tenant"] == tenant
                assert row["endpoint"] == ENDPOINT
                assert row["requested_model"] == FEE
                assert row["request_id"] == charge_id(store_id, today())
                assert len(row["request_id"]) <= 64
                assert row["tool_calls"] == f'{{"{FEE}":{units}}}'
                assert row["cost_nanos"] == units * PRICE
                assert (row["status"], row["outcome"], row["unpriced"]) == (200, "completed", False)
            assert sorted(charges(services)) == sorted(
                [
                    (small, day, "alpha", 11),
                    (large, day, "beta", 2 * MB + 1),
                    (empty, day, "alpha", 0),
                ]
            )
            asked = len(polls(fake))
            again = await meter.run_once(tomorrow() + timedelta(hours=5))  # same day D
            assert (again.polled, again.charged) == (0, 0)
            assert len(polls(fake)) == asked, "a day charged is not polled again"
            next_day = await meter.run_once(tomorrow() + timedelta(days=1))
            assert (next_day.polled, next_day.charged) == (3, 2), "the next day is charged too"
            assert len(await storage_rows(services)) == 4

    asyncio.run(scenario())


def test_two_replicas_on_one_database_charge_each_store_once(
    fake: FakeOpenAIServer, storage_db_url: str
) -> None:
    stores = [make_store(fake, 5 * MB) for _ in range(6)]
    config = gateway_config(fake.base_url, tenants=THRIFTY)

    async def scenario() -> None:
        async with running(config, storage_db_url) as services:
            for store_id in stores:
                await services.ownership.record_now(store_id, "thrifty", "vector_store")
            one, two = storage_meter(services), storage_meter(services)
            now = tomorrow()
            first, second = await asyncio.gather(one.run_once(now), two.run_once(now))
            assert first.charged + second.charged == len(stores)
            assert first.taken + second.taken == first.polled + second.polled - len(stores)
            rows = await storage_rows(services)
            assert sorted(row["response_id"] for row in rows) == sorted(stores)
            assert sum(row["cost_nanos"] for row in rows) == len(stores) * 5 * PRICE
            assert await spent(services, "thrifty") == len(stores) * 5 * PRICE, "counted once"
            later = await asyncio.gather(one.run_once(now), two.run_once(now))
            assert [run.charged for run in later] == [0, 0]
            assert len(await storage_rows(services)) == len(stores)

    asyncio.run(scenario())


def test_a_store_deleted_through_the_gateway_is_not_charged(
    fake: FakeOpenAIServer, storage_db_url: str
) -> None:
    kept, deleted = make_store(fake, 100), make_store(fake, 100)

    async def scenario() -> None:
        async with running(gateway_config(fake.base_url), storage_db_url) as services:
            for store_id in (kept, deleted):
                await services.ownership.record_now(store_id, "alpha", "vector_store")
            delete_store(fake, deleted)
            await services.ownership.forget_now(deleted)  # what a DELETE through the gateway does
            run = await storage_meter(services).run_once(tomorrow())
            assert (run.polled, run.charged) == (1, 1)
            assert [row["response_id"] for row in await storage_rows(services)] == [kept]
            assert deleted not in polls(fake)

    asyncio.run(scenario())


def test_a_store_the_upstream_no_longer_has_is_skipped_for_the_day(
    fake: FakeOpenAIServer, storage_db_url: str
) -> None:
    expired = make_store(fake, 100)  # gone upstream (expired), still owned here
    delete_store(fake, expired)

    async def scenario() -> None:
        async with running(gateway_config(fake.base_url), storage_db_url) as services:
            await services.ownership.record_now(expired, "alpha", "vector_store")
            meter = storage_meter(services)
            run = await meter.run_once(tomorrow())
            assert (run.polled, run.gone, run.charged) == (1, 1, 0)
            assert await storage_rows(services) == []
            assert charges(services) == [(expired, str(today()), "alpha", None)]
            await meter.run_once(tomorrow())
            assert polls(fake).count(expired) == 1, "asked once a day, not every run"

    asyncio.run(scenario())


def test_a_store_made_after_the_day_ended_is_not_charged_for_it(
    fake: FakeOpenAIServer, db_url: str
) -> None:
    store_id = make_store(fake, 100)

    async def scenario() -> None:
        async with running(gateway_config(fake.base_url), db_url) as services:
            await services.ownership.record_now(store_id, "alpha", "vector_store")  # today
            run = await storage_meter(services).run_once(datetime.now(UTC))  # charges yesterday
            assert run.day == today() - timedelta(days=1)
            assert (run.polled, run.charged) == (0, 0)
            assert polls(fake) == []

    asyncio.run(scenario())


def test_the_charge_counts_in_the_tenants_budget_and_is_charged_past_it(
    fake: FakeOpenAIServer, storage_db_url: str
) -> None:
    big, huge = make_store(fake, 3 * MB), make_store(fake, 40 * MB)
    tenants = {**THRIFTY, "broke": {"models": ["*"], "budgets": {"daily_usd": 0.000001}}}
    config = gateway_config(fake.base_url, tenants=tenants)

    async def scenario() -> None:
        async with running(config, storage_db_url) as services:
            await services.ownership.record_now(big, "thrifty", "vector_store")
            await services.ownership.record_now(huge, "broke", "vector_store")
            run = await storage_meter(services).run_once(tomorrow())
            assert run.charged == 2, "storage already used is charged even past the budget"
            await services.ledger.flush()
            assert await spent(services, "thrifty") == 3 * PRICE
            assert await spent(services, "broke") == 40 * PRICE
        async with running(config, storage_db_url) as restarted:  # spend comes from the ledger
            assert await spent(restarted, "thrifty") == 3 * PRICE

    asyncio.run(scenario())


def test_a_run_polls_at_most_its_limit_and_the_next_run_carries_on(
    fake: FakeOpenAIServer, db_url: str
) -> None:
    stores = sorted(make_store(fake, MB) for _ in range(5))

    async def scenario() -> None:
        async with running(gateway_config(fake.base_url), db_url) as services:
            for store_id in stores:
                await services.ownership.record_now(store_id, "alpha", "vector_store")
            meter = storage_meter(services, stores_per_run=2)
            counts = [(await meter.run_once(tomorrow())).polled for _ in range(4)]
            assert counts == [2, 2, 1, 0]
            assert polls(fake) == stores, "each store polled once, in id order"
            assert len(await storage_rows(services)) == 5

    asyncio.run(scenario())


def test_an_upstream_failure_stops_the_run_and_the_store_is_retried_after_the_others(
    fake: FakeOpenAIServer, db_url: str
) -> None:
    first, *rest = sorted(make_store(fake, MB) for _ in range(3))
    fake.inject(Fault(path=f"/v1/vector_stores/{first}", status=500))

    async def scenario() -> None:
        async with running(gateway_config(fake.base_url), db_url) as services:
            for store_id in (first, *rest):
                await services.ownership.record_now(store_id, "alpha", "vector_store")
            meter = storage_meter(services)
            failed = await meter.run_once(tomorrow())
            assert (failed.failed, failed.polled, failed.charged) == (True, 0, 0)
            others = await meter.run_once(tomorrow())
            assert (others.failed, others.charged) == (False, 2)
            retried = await meter.run_once(tomorrow())
            assert retried.charged == 1
            assert polls(fake) == [first, *rest, first]
            assert len(await storage_rows(services)) == 3

    asyncio.run(scenario())


def test_without_a_price_nothing_is_polled_or_charged_and_it_is_said_once(
    fake: FakeOpenAIServer, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store_id = make_store(fake, MB)

    async def scenario() -> None:
        async with running(gateway_config(fake.base_url, prices=UNPRICED), db_url) as services:
            await services.ownership.record_now(store_id, "alpha", "vector_store")
            meter = storage_meter(services)
            with caplog.at_level(logging.WARNING, logger="gateway.storage.meter"):
                for _ in range(2):
                    run = await meter.run_once(tomorrow())
                    assert (run.polled, run.charged) == (0, 0)
            assert await storage_rows(services) == []
            assert charges(services) == [], "the day stays due for when a price is added"
            assert polls(fake) == []

    asyncio.run(scenario())
    said = [r.getMessage() for r in caplog.records if r.name == "gateway.storage.meter"]
    assert len(said) == 1
    assert FEE in said[0]


def test_an_operator_allowing_unpriced_calls_gets_unpriced_rows(
    fake: FakeOpenAIServer, db_url: str
) -> None:
    store_id = make_store(fake, MB)
    allow = {"accounting": {"allow_unpriced": True}}

    async def scenario() -> None:
        config = gateway_config(fake.base_url, prices=UNPRICED, patch=allow)
        async with running(config, db_url) as services:
            await services.ownership.record_now(store_id, "alpha", "vector_store")
            run = await storage_meter(services).run_once(tomorrow())
            assert run.charged == 1
            [row] = await storage_rows(services)
            assert (row["cost_nanos"], row["unpriced"]) == (0, True)
            assert row["tool_calls"] == f'{{"{FEE}":1}}'

    asyncio.run(scenario())


def test_storage_is_charged_to_its_owner_even_if_unknown_or_disabled_now(
    fake: FakeOpenAIServer, db_url: str
) -> None:
    gone_tenant, frozen = make_store(fake, MB), make_store(fake, MB)

    async def scenario() -> None:
        async with running(gateway_config(fake.base_url), db_url) as services:
            await services.ownership.record_now(gone_tenant, "removed", "vector_store")
            await services.ownership.record_now(frozen, "frozen", "vector_store")
            run = await storage_meter(services).run_once(tomorrow())
            assert run.charged == 2
            rows = await storage_rows(services)
            assert {(row["response_id"], row["tenant"]) for row in rows} == {
                (gone_tenant, "removed"),
                (frozen, "frozen"),
            }

    asyncio.run(scenario())


def test_the_background_task_runs_every_interval_and_survives_a_failed_run(
    fake: FakeOpenAIServer, db_url: str
) -> None:
    store_id = make_store(fake, MB)
    slept: list[float] = []
    times: Iterator[datetime | Exception] = iter([RuntimeError("clock trouble"), tomorrow()])
    forever = asyncio.Event()

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) > 2:
            await forever.wait()

    def clock() -> datetime:
        now = next(times)
        if isinstance(now, Exception):
            raise now
        return now

    async def scenario() -> None:
        async with running(gateway_config(fake.base_url), db_url) as services:
            await services.ownership.record_now(store_id, "alpha", "vector_store")
            meter = storage_meter(services, interval_s=300, clock=clock, sleep=sleep)
            task = asyncio.create_task(meter.run_forever())
            await eventually(lambda: len(slept) >= 3, what="three waits of the meter")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert slept == [300, 300, 300]
            assert [row["response_id"] for row in await storage_rows(services)] == [store_id]

    asyncio.run(scenario())


def test_the_gateways_services_start_and_stop_the_meter(
    fake: FakeOpenAIServer, db_url: str
) -> None:
    async def scenario() -> None:
        async with running(gateway_config(fake.base_url), db_url):
            names = {task.get_name() for task in asyncio.all_tasks()}
            assert "storage-meter" in names
        names = {task.get_name() for task in asyncio.all_tasks()}
        assert "storage-meter" not in names

    asyncio.run(scenario())


def test_a_run_cancelled_while_its_claim_is_written_still_settles_the_call(
    fake: FakeOpenAIServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shutdown cancels the meter; the claim's insert finishes in its thread regardless, so the
    admitted call must be settled (claimed) rather than left holding the tenant's budget."""
    store_id = make_store(fake, 2 * MB)
    entered, release = threading.Event(), threading.Event()
    real_claim = sql.claim

    def slow_claim(*args: Any) -> bool:
        entered.set()
        release.wait(10)
        return real_claim(*args)

    monkeypatch.setattr(sql, "claim", slow_claim)

    async def scenario() -> None:
        config = gateway_config(fake.base_url, tenants=THRIFTY)
        async with running(config, db_url) as services:
            await services.ownership.record_now(store_id, "thrifty", "vector_store")
            task = asyncio.create_task(storage_meter(services).run_once(tomorrow()))
            await eventually(entered.is_set, what="the claim to be under way")
            task.cancel()
            release.set()
            with pytest.raises(asyncio.CancelledError):
                await task
            [row] = await storage_rows(services)
            assert (row["response_id"], row["cost_nanos"]) == (store_id, 2 * PRICE)
            assert await spent(services, "thrifty") == 2 * PRICE

    asyncio.run(scenario())


def test_stores_made_and_deleted_through_the_gateway_are_charged_to_their_tenant(
    fake: FakeOpenAIServer, db_url: str
) -> None:
    with GatewayServer(config_dict(fake.base_url), database_url=db_url) as gateway:
        sdk = openai.OpenAI(
            base_url=gateway.base_url, api_key=gateway.token("alpha"), max_retries=0
        )
        made = sdk.files.create(file=("kb.txt", b"y" * 1500), purpose="assistants")
        kept = sdk.vector_stores.create(name="kept", file_ids=[made.id]).id
        dropped = sdk.vector_stores.create(name="dropped", file_ids=[made.id]).id
        assert sdk.vector_stores.delete(dropped).deleted

    async def scenario() -> None:  # the next replica to run the meter, on the same database
        async with running(gateway_config(fake.base_url), db_url) as services:
            run = await storage_meter(services).run_once(tomorrow())
            assert (run.polled, run.charged) == (1, 1)
            [row] = await storage_rows(services)
            assert (row["response_id"], row["tenant"], row["cost_nanos"]) == (kept, "alpha", PRICE)

    asyncio.run(scenario())
