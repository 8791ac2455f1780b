"""The ledger's service column: usage by service, spend per budget scope, hourly spend."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from gateway.ledger import (
    Ledger,
    LedgerRecord,
    format_usage,
    spend_by_scope,
    spend_by_tenant_model,
    usage_report,
)
from gateway.ledger.hourly import hourly_spend

MakeRecord = Callable[..., LedgerRecord]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def write(engine: Engine, records: Iterable[LedgerRecord]) -> None:
    async def scenario() -> None:
        ledger = Ledger(engine)
        for rec in records:
            ledger.record(rec)
        await ledger.aclose()

    asyncio.run(scenario())


def test_usage_groups_and_filters_by_service_with_calls_without_one_as_none(
    engine: Engine, make_record: MakeRecord
) -> None:
    write(
        engine,
        [
            make_record(service="search", cost_nanos=1),
            make_record(service="search", cost_nanos=2),
            make_record(service="other", cost_nanos=4),
            make_record(service="svc/a@b:c-1.2_x", cost_nanos=8),  # every allowed character
            make_record(service=None, cost_nanos=16),  # a tenant without services, an orphan
            make_record(service="search", tenant="beta", cost_nanos=32),
        ],
    )
    by_service = usage_report(engine, group_by=("service",))
    assert [(r.service, r.requests, r.cost_nanos) for r in by_service] == [
        (None, 1, 16),
        ("other", 1, 4),
        ("search", 3, 35),
        ("svc/a@b:c-1.2_x", 1, 8),
    ]
    by_tenant = usage_report(engine, group_by=("tenant", "service"), service="search")
    assert [(r.tenant, r.service, r.cost_nanos) for r in by_tenant] == [
        ("alpha", "search", 3),
        ("beta", "search", 32),
    ]
    assert usage_report(engine, group_by=("tenant",), service="nobody") == []


def test_csv_has_a_service_column_when_grouped_by_it_even_if_every_call_had_none(
    engine: Engine, make_record: MakeRecord
) -> None:
    write(engine, [make_record(service=None, cost_nanos=5)])
    rows = usage_report(engine, group_by=("service",))
    header = format_usage(rows, "csv", group_by=("service",)).splitlines()[0]
    assert header.startswith("day,month,tenant,subject,route,model,endpoint,service,requests,")
    assert "service" not in format_usage(rows, "csv").splitlines()[0]  # older reports unchanged
    write(engine, [make_record(service="search", cost_nanos=5)])
    rows = usage_report(engine, group_by=("service",))
    lines = format_usage(rows, "csv").splitlines()  # a value shows the column by itself
    assert lines[0].split(",")[7] == "service"
    assert lines[2].split(",")[7] == "search"
    assert format_usage(rows, "table").splitlines()[0].split()[:2] == ["service", "requests"]


def test_a_service_name_longer_than_the_column_is_cut_not_refused(
    engine: Engine, make_record: MakeRecord
) -> None:
    write(engine, [make_record(service="s" * 80, cost_nanos=1), make_record(cost_nanos=2)])
    [long, _] = sorted(usage_report(engine, group_by=("service",)), key=lambda r: r.cost_nanos)
    assert long.service == "s" * 64


def test_spend_by_scope_sums_per_tenant_model_service_and_tags_from_since(
    engine: Engine, make_record: MakeRecord
) -> None:
    since = utc(2025, 3, 1)
    write(
        engine,
        [
            make_record(ts=since - timedelta(microseconds=1), service="search", cost_nanos=1),
            make_record(ts=since, service="search", tags="env=prod", cost_nanos=10),
            make_record(
                ts=since + timedelta(days=2), service="search", tags="env=prod", cost_nanos=20
            ),
            make_record(ts=since, service="search", tags=None, cost_nanos=100),
            make_record(ts=since, service=None, tags="env=prod,feature=x", cost_nanos=1_000),
            make_record(ts=since, requested_model="gpt-5", service="other", cost_nanos=10_000),
            make_record(ts=since, tenant="beta", cost_nanos=9_000_000_000_000_000_000),
        ],
    )
    assert spend_by_scope(engine, since) == {
        ("alpha", "gpt-5-nano", "search", "env=prod"): 30,
        ("alpha", "gpt-5-nano", "search", None): 100,
        ("alpha", "gpt-5-nano", None, "env=prod,feature=x"): 1_000,
        ("alpha", "gpt-5", "other", None): 10_000,
        ("beta", "gpt-5-nano", None, None): 9_000_000_000_000_000_000,
    }
    by_model: dict[tuple[str, str], int] = {}
    for (tenant, model, _, _), nanos in spend_by_scope(engine, since).items():
        by_model[tenant, model] = by_model.get((tenant, model), 0) + nanos
    assert by_model == spend_by_tenant_model(engine, since)  # the same rows, split finer
    # a naive `since` is UTC
    assert spend_by_scope(engine, datetime(2025, 3, 2)) == {
        ("alpha", "gpt-5-nano", "search", "env=prod"): 20
    }
    assert spend_by_scope(engine, utc(2030, 1, 1)) == {}


def test_hourly_spend_is_per_local_hour_and_spend_key(
    engine: Engine, make_record: MakeRecord
) -> None:
    kolkata = ZoneInfo("Asia/Kolkata")  # +05:30: local hours start at UTC half-hours
    write(
        engine,
        [
            make_record(ts=utc(2025, 3, 1, 10, 29), service="search", cost_nanos=1),
            make_record(ts=utc(2025, 3, 1, 10, 30), service="search", cost_nanos=2),
            make_record(ts=utc(2025, 3, 1, 11, 29), service="search", cost_nanos=4),
            make_record(ts=utc(2025, 3, 1, 10, 45), service=None, tags="env=prod", cost_nanos=8),
            make_record(ts=utc(2025, 3, 1, 10, 45), service=None, cost_nanos=0),  # no cost: absent
            make_record(ts=utc(2025, 3, 1, 9, 0), service="search", cost_nanos=16),  # before since
        ],
    )
    spend = hourly_spend(engine, utc(2025, 3, 1, 9, 30), kolkata)
    at = datetime(2025, 3, 1, 15, 0, tzinfo=kolkata)  # = 09:30 UTC
    assert spend == {
        ("alpha", "search", None): {at: 1, at + timedelta(hours=1): 6},
        ("alpha", None, "env=prod"): {at + timedelta(hours=1): 8},
    }
    assert all(h.tzinfo is kolkata for hours in spend.values() for h in hours)
    assert hourly_spend(engine, utc(2025, 3, 1, 9, 30), kolkata, until=utc(2025, 3, 1, 10, 30)) == {
        ("alpha", "search", None): {at: 1}
    }
