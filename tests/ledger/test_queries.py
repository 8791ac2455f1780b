"""Ledger queries: spend since a moment, usage reports in a time zone, exact formatting."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine

from gateway.ledger import (
    Ledger,
    LedgerRecord,
    UsageRow,
    format_usage,
    nanos_to_usd,
    queries,
    spend_by_tenant_model,
    usage_report,
)

MakeRecord = Callable[..., LedgerRecord]  # the make_record fixture


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


def write(engine: Engine, records: Iterable[LedgerRecord]) -> None:
    async def scenario() -> None:
        ledger = Ledger(engine)
        for rec in records:
            ledger.record(rec)
        await ledger.aclose()

    asyncio.run(scenario())


def test_spend_by_tenant_model_counts_from_since_inclusive(
    engine: Engine, make_record: MakeRecord
) -> None:
    since = utc(2025, 3, 1)
    write(
        engine,
        [
            make_record(ts=since - timedelta(microseconds=1), cost_nanos=1),  # before: excluded
            make_record(ts=since, cost_nanos=10),
            make_record(ts=since + timedelta(days=3), cost_nanos=100),
            make_record(ts=since, requested_model="gpt-5", cost_nanos=1_000),
            make_record(ts=since, tenant="beta", cost_nanos=10_000),
            make_record(
                ts=since, tenant="beta", cost_nanos=9_000_000_000_000_000_000
            ),  # 9e9 USD: BIGINT
        ],
    )
    assert spend_by_tenant_model(engine, since) == {
        ("alpha", "gpt-5-nano"): 110,
        ("alpha", "gpt-5"): 1_000,
        ("beta", "gpt-5-nano"): 9_000_000_000_000_010_000,
    }
    # A naive `since` is UTC; an aware one in another zone means the same instant.
    assert spend_by_tenant_model(engine, datetime(2025, 3, 2)) == {("alpha", "gpt-5-nano"): 100}
    assert spend_by_tenant_model(engine, utc(2030, 1, 1)) == {}


@pytest.fixture
def around_midnight(engine: Engine, make_record: MakeRecord) -> Engine:
    """Rows near midnight UTC: in New York (UTC-5 in early March) they are the evening before."""
    write(
        engine,
        [
            # 2025-03-01 22:00 in New York
            make_record(ts=utc(2025, 3, 2, 3, 0), cost_nanos=1_000, estimated=True),
            # 2025-03-01 19:00 in New York
            make_record(ts=utc(2025, 3, 2, 0, 0), requested_model="gpt-5", cost_nanos=2_000),
            # 2025-03-02 01:00 in New York
            make_record(ts=utc(2025, 3, 2, 6, 0), cost_nanos=4_000, unpriced=True),
            make_record(
                ts=utc(2025, 3, 2, 6, 0),
                tenant="beta",
                endpoint="chat.completions",
                cost_nanos=8_000,
                cached_input_tokens=5,
                reasoning_tokens=3,
                audio_input_tokens=1,
                cached_audio_input_tokens=2,
                audio_output_tokens=4,
                image_input_tokens=6,
            ),
        ],
    )
    return engine


def test_days_are_local_to_the_report_time_zone(around_midnight: Engine) -> None:
    in_utc = usage_report(around_midnight, group_by=("day",))
    assert [(r.day, r.requests, r.cost_nanos) for r in in_utc] == [("2025-03-02", 4, 15_000)]

    in_ny = usage_report(around_midnight, group_by=("day", "model"), tz="America/New_York")
    assert [(r.day, r.model, r.requests, r.cost_nanos) for r in in_ny] == [
        ("2025-03-01", "gpt-5", 1, 2_000),
        ("2025-03-01", "gpt-5-nano", 1, 1_000),
        ("2025-03-02", "gpt-5-nano", 2, 12_000),
    ]
    assert all(r.month is None and r.tenant is None and r.endpoint is None for r in in_ny)


def test_sums_and_counts_per_group(around_midnight: Engine) -> None:
    by_tenant = usage_report(around_midnight, group_by=("tenant", "day"), tz="America/New_York")
    assert [(r.tenant, r.day) for r in by_tenant] == [
        ("alpha", "2025-03-01"),
        ("alpha", "2025-03-02"),
        ("beta", "2025-03-02"),
    ]
    assert by_tenant[0] == UsageRow(
        tenant="alpha",
        day="2025-03-01",
        requests=2,
        attempts=2,
        input_tokens=20,
        output_tokens=40,
        cost_nanos=3_000,
        estimated_requests=1,
    )
    assert by_tenant[1].unpriced_requests == 1
    assert by_tenant[2] == UsageRow(
        tenant="beta",
        day="2025-03-02",
        requests=1,
        attempts=1,
        input_tokens=10,
        cached_input_tokens=5,
        output_tokens=20,
        reasoning_tokens=3,
        audio_input_tokens=1,
        cached_audio_input_tokens=2,
        audio_output_tokens=4,
        image_input_tokens=6,
        cost_nanos=8_000,
    )
    [total] = usage_report(around_midnight, group_by=())
    assert (total.requests, total.cost_nanos, total.estimated_requests) == (4, 15_000, 1)
    by_endpoint = usage_report(around_midnight, group_by=["endpoint"])
    assert [(r.endpoint, r.requests) for r in by_endpoint] == [
        ("chat.completions", 1),
        ("responses", 3),
    ]


def test_requests_are_client_requests_and_attempts_are_counted_apart(
    engine: Engine, make_record: MakeRecord
) -> None:
    # One client request escalated over three attempts, its start time on every row, just
    # before a quarter-hour and a local midnight (New York), and one plain request.
    start = utc(2025, 3, 2, 4, 59, 59)
    write(
        engine,
        [
            *(
                make_record(request_id="req_esc", attempt=n, ts=start, cost_nanos=10 * n)
                for n in (1, 2, 3)
            ),
            make_record(request_id="req_one", attempt=1, ts=start, cost_nanos=5),
        ],
    )
    for group_by in ((), ("day",), ("month", "tenant", "model")):
        [row] = usage_report(engine, group_by=group_by, tz="America/New_York")
        assert (row.requests, row.attempts, row.cost_nanos) == (2, 4, 60 + 5), group_by


def test_groups_by_calling_service_and_route(engine: Engine, make_record: MakeRecord) -> None:
    write(
        engine,
        [
            make_record(subject="svc-search", route="cheap", cost_nanos=1),
            make_record(subject="svc-search", route="smart", cost_nanos=2),
            make_record(subject="svc-ads", route="cheap", cost_nanos=4),
            make_record(subject=None, route=None, cost_nanos=8),  # an orphan has neither
        ],
    )
    by_subject = usage_report(engine, group_by=("subject",))
    assert [(r.subject, r.requests, r.cost_nanos) for r in by_subject] == [
        (None, 1, 8),
        ("svc-ads", 1, 4),
        ("svc-search", 2, 3),
    ]
    by_route = usage_report(engine, group_by=("route", "subject"))
    assert [(r.route, r.subject, r.cost_nanos) for r in by_route] == [
        (None, None, 8),
        ("cheap", "svc-ads", 4),
        ("cheap", "svc-search", 1),
        ("smart", "svc-search", 2),
    ]


def test_filters(around_midnight: Engine) -> None:
    def report(**kw: object) -> list[tuple[str | None, int]]:
        rows = usage_report(around_midnight, group_by=("tenant",), **kw)  # type: ignore[arg-type]
        return [(r.tenant, r.cost_nanos) for r in rows]

    assert report(tenant="beta") == [("beta", 8_000)]
    assert report(model="gpt-5") == [("alpha", 2_000)]
    assert report(start=utc(2025, 3, 2, 3, 0)) == [("alpha", 5_000), ("beta", 8_000)]
    assert report(end=utc(2025, 3, 2, 3, 0)) == [("alpha", 2_000)]  # end is exclusive
    assert report(start=datetime(2025, 3, 2, 1), end=datetime(2025, 3, 2, 6)) == [("alpha", 1_000)]
    assert report(tenant="nobody") == []
    assert usage_report(around_midnight, group_by=(), tenant="nobody") == []


def test_quarter_hour_offsets_and_months(engine: Engine, make_record: MakeRecord) -> None:
    write(
        engine,
        [
            make_record(ts=utc(2025, 3, 1, 18, 14, 59)),  # 23:59:59 in Kathmandu (UTC+05:45)
            make_record(ts=utc(2025, 3, 1, 18, 15, 0)),  # 00:00:00 the next day there
            make_record(ts=utc(2025, 3, 31, 21, 59, 59)),  # 23:59:59 in Berlin (summer time)
            make_record(ts=utc(2025, 3, 31, 22, 0, 0)),  # 00:00 on 1 April in Berlin
        ],
    )
    kathmandu = usage_report(engine, group_by=("day",), tz="Asia/Kathmandu")
    assert [(r.day, r.requests) for r in kathmandu] == [
        ("2025-03-01", 1),
        ("2025-03-02", 1),
        ("2025-04-01", 2),
    ]
    berlin = usage_report(engine, group_by=("month",), tz="Europe/Berlin")
    assert [(r.month, r.day, r.requests) for r in berlin] == [
        ("2025-03", None, 3),
        ("2025-04", None, 1),
    ]


def test_other_databases_bucket_raw_timestamps_the_same(
    around_midnight: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = {"group_by": ("day", "tenant", "model"), "tz": "America/New_York"}
    fast = usage_report(around_midnight, **args)  # type: ignore[arg-type]
    monkeypatch.delitem(queries._QUARTER_HOUR_BY_DIALECT, around_midnight.dialect.name)
    assert usage_report(around_midnight, **args) == fast  # type: ignore[arg-type]


def test_bad_arguments_are_value_errors(engine: Engine) -> None:
    with pytest.raises(ValueError, match=r"cannot group usage by week; choose from day, month"):
        usage_report(engine, group_by=("day", "week"))
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        usage_report(engine, tz="Mars/Olympus")
    with pytest.raises(ValueError, match="unknown format"):
        format_usage([], "xml")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("nanos", "usd"),
    [
        (0, "0.000000"),
        (1_234_567, "0.001235"),
        (1_234_499, "0.001234"),
        (500, "0.000001"),  # half up
        (499, "0.000000"),
        (1_000_000_000, "1.000000"),
        (123_456_789_012_345_678, "123456789.012346"),
        (10**30 + 500, "1000000000000000000000.000001"),  # beyond any float's precision
    ],
)
def test_nanos_to_usd_is_exact(nanos: int, usd: str) -> None:
    assert str(nanos_to_usd(nanos)) == usd
    assert nanos_to_usd(nanos) == Decimal(usd)


ROWS = [
    UsageRow(
        day="2025-03-01",
        model="gpt-5",
        requests=3,
        attempts=4,
        input_tokens=1200,
        output_tokens=345,
        cost_nanos=1_234_567,
        estimated_requests=1,
    ),
    UsageRow(
        day="2025-03-02",
        model="gpt-5-nano",
        requests=12,
        attempts=12,
        input_tokens=5,
        cost_nanos=123_456_789_012_345_678,
        unpriced_requests=2,
    ),
]


def test_format_csv() -> None:
    text = format_usage(ROWS, "csv")
    lines = text.splitlines()
    assert lines[0] == (
        "day,month,tenant,subject,route,model,endpoint,requests,attempts,input_tokens,"
        "cached_input_tokens,output_tokens,reasoning_tokens,audio_input_tokens,"
        "cached_audio_input_tokens,audio_output_tokens,image_input_tokens,cost_nanos,"
        "estimated_requests,unpriced_requests,cost_usd"
    )
    assert lines[1] == "2025-03-01,,,,,gpt-5,,3,4,1200,0,345,0,0,0,0,0,1234567,1,0,0.001235"
    assert lines[2].endswith(",123456789012345678,0,2,123456789.012346")
    assert len(list(csv.DictReader(io.StringIO(text)))) == 2
    assert format_usage([], "csv") == lines[0] + "\n"
    assert format_usage(ROWS, "csv", total=ROWS[0]) == text  # each CSV row is one group


def test_format_json() -> None:
    data = json.loads(format_usage(ROWS, "json"))
    assert data[0]["cost_usd"] == "0.001235"
    assert data[0]["cost_nanos"] == 1_234_567
    assert data[0]["month"] is None
    assert (data[0]["requests"], data[0]["attempts"]) == (3, 4)
    assert data[1]["cost_usd"] == "123456789.012346"
    assert data[1]["unpriced_requests"] == 2
    assert format_usage([], "json") == "[]"


def test_format_table_shows_the_main_columns_and_warnings_only_when_there_are_some() -> None:
    text = format_usage(ROWS, "table")
    lines = text.splitlines()
    assert lines[0].split() == [
        "day",
        "model",
        "requests",
        "attempts",
        "input_tokens",
        "output_tokens",
        "estimated_requests",
        "unpriced_requests",
        "cost_usd",
    ]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].split()[:4] == ["2025-03-01", "gpt-5", "3", "4"]
    assert lines[2].endswith("        0.001235")  # numbers right-aligned
    assert lines[3].endswith("123456789.012346")
    assert len({len(line) for line in lines}) == 1  # aligned: every line equally wide
    assert "month" not in lines[0]  # keys not grouped by are left out of the table
    clean = format_usage([UsageRow(model="gpt-5", requests=1, attempts=1)], "table")
    assert "estimated_requests" not in clean
    assert "unpriced_requests" not in clean
    assert clean.splitlines()[0].split() == [
        "model", "requests", "attempts", "input_tokens", "output_tokens", "cost_usd"
    ]  # fmt: skip


def test_format_table_wide_has_every_number() -> None:
    header = format_usage(ROWS, "table", wide=True).splitlines()[0].split()
    assert header == [
        "day",
        "model",
        "requests",
        "attempts",
        "input_tokens",
        "cached_input_tokens",
        "output_tokens",
        "reasoning_tokens",
        "audio_input_tokens",
        "cached_audio_input_tokens",
        "audio_output_tokens",
        "image_input_tokens",
        "estimated_requests",
        "unpriced_requests",
        "cost_usd",
    ]


def test_format_table_ends_with_the_total_it_is_given() -> None:
    total = UsageRow(
        requests=14, attempts=16, input_tokens=1205, cost_nanos=123_456_789_013_580_245
    )
    lines = format_usage(ROWS, "table", total=total).splitlines()
    assert len(lines) == 6  # header, rule, two groups, rule, total
    assert set(lines[4]) <= {"-", " "}
    assert lines[5].split()[:4] == ["total", "14", "16", "1205"]
    assert lines[5].endswith("123456789.013580")
    assert len({len(line) for line in lines}) == 1
    ungrouped = format_usage([total], "table", total=total).splitlines()
    assert len(ungrouped) == 3
    assert "total" not in ungrouped[2]


def test_groups_by_one_tag_key_with_untagged_calls_as_none(
    engine: Engine, make_record: MakeRecord
) -> None:
    write(
        engine,
        [
            make_record(tags="env=prod,feature=search", cost_nanos=1),
            make_record(tags="feature=search", cost_nanos=2),
            # a key that ends like another, and a value that looks like a key: no false match
            make_record(tags="env=prod,subfeature=chat", cost_nanos=4),
            make_record(tags="env=feature=x", cost_nanos=8),  # never written; still exact
            make_record(tags="feature=chat,team=feature", cost_nanos=16),
            make_record(tags=None, cost_nanos=32),
        ],
    )
    by_feature = usage_report(engine, group_by=("tag:feature",))
    assert [(r.tag, r.requests, r.cost_nanos) for r in by_feature] == [
        ("(none)", 3, 44),
        ("chat", 1, 16),
        ("search", 2, 3),
    ]
    by_env = usage_report(engine, group_by=("tenant", "tag:env"))
    assert [(r.tenant, r.tag, r.cost_nanos) for r in by_env] == [
        ("alpha", "(none)", 50),
        ("alpha", "feature=x", 8),
        ("alpha", "prod", 5),
    ]
    assert all(r.model is None and r.day is None for r in by_env)


def test_tag_groups_split_by_day_like_any_other_key(
    engine: Engine, make_record: MakeRecord
) -> None:
    write(
        engine,
        [
            make_record(tags="feature=search", ts=utc(2025, 3, 1, 10)),
            make_record(tags="feature=search", ts=utc(2025, 3, 2, 10)),
            make_record(tags="feature=search", ts=utc(2025, 3, 2, 11)),
        ],
    )
    rows = usage_report(engine, group_by=("day", "tag:feature"))
    assert [(r.day, r.tag, r.requests) for r in rows] == [
        ("2025-03-01", "search", 1),
        ("2025-03-02", "search", 2),
    ]


def test_tag_group_keys_are_checked(engine: Engine) -> None:
    with pytest.raises(ValueError, match="one tag key at a time"):
        usage_report(engine, group_by=("tag:feature", "tag:env"))
    with pytest.raises(ValueError, match="names no possible tag key"):
        usage_report(engine, group_by=("tag:x'; drop table ledger; --",))
    with pytest.raises(ValueError, match="names no possible tag key"):
        usage_report(engine, group_by=("tag:",))


def test_format_shows_a_tag_column_only_for_a_report_grouped_by_a_tag() -> None:
    tagged = [UsageRow(tag="search", requests=1, attempts=1, cost_nanos=1000)]
    lines = format_usage(tagged, "csv").splitlines()
    assert lines[0].startswith("day,month,tenant,subject,route,model,endpoint,tag,requests,")
    assert lines[1].startswith(",,,,,,,search,1,1,")
    assert format_usage(ROWS, "csv").splitlines()[0].startswith("day,month,tenant,subject,route,model,endpoint,requests,")  # fmt: skip
    table = format_usage(tagged, "table").splitlines()
    assert table[0].split()[:2] == ["tag", "requests"]
    assert table[2].split()[0] == "search"
    assert json.loads(format_usage(tagged, "json"))[0]["tag"] == "search"
