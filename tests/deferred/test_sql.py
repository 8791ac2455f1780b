"""A held call's rows: due charges come soonest first, a check is claimed once, a bill lands once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from gateway.deferred import sql
from gateway.deferred.table import PendingCharge
from gateway.ledger.table import LedgerEntry

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)


def charge(object_id: str, *, due_in_s: float = 30, request_id: str = "req_1") -> PendingCharge:
    return PendingCharge(
        object_id=object_id, kind="batch", tenant="alpha", request_id=request_id, attempt=1,
        model="gpt-5-nano", upstream="openai", bound_nanos=5000,
        counters='[["alpha", null, "day:2026-12-01"]]', created_at=T0,
        next_check_at=T0 + timedelta(seconds=due_in_s),
    )  # fmt: skip


def pending_row(engine: Engine, request_id: str = "req_1", service: str | None = None) -> None:
    with Session(engine) as session:
        session.add(
            LedgerEntry(
                request_id=request_id,
                attempt=1,
                ts=T0,
                tenant="alpha",
                endpoint="batches",
                requested_model="gpt-5-nano",
                status=200,
                outcome="pending",
                cost_nanos=5000,
                estimated=True,
                service=service,
            )
        )
        session.commit()


def ledger(engine: Engine) -> list[tuple[str, int, bool]]:
    with Session(engine) as session:
        rows = session.exec(select(LedgerEntry)).all()
        return [(r.outcome, r.cost_nanos, r.estimated) for r in rows]


BILL = {"outcome": "completed", "cost_nanos": 1200, "estimated": False, "input_tokens": 7}


def test_due_charges_come_soonest_first_and_a_round_takes_a_bounded_number(
    engine: Engine,
) -> None:
    for i, due_in in enumerate((90, 30, 60, 3600)):
        sql.add(engine, charge(f"batch_{i}", due_in_s=due_in))
    due = sql.due(engine, T0 + timedelta(seconds=100), limit=2)
    assert [c.object_id for c in due] == ["batch_1", "batch_2"]
    assert due[0].next_check_at == T0 + timedelta(seconds=30)
    assert [c.object_id for c in sql.due(engine, T0, limit=10)] == []


def test_a_check_is_claimed_by_one_replica(engine: Engine) -> None:
    sql.add(engine, charge("batch_a"))
    seen = sql.due(engine, T0 + timedelta(minutes=1), limit=1)[0]
    later = T0 + timedelta(minutes=2)
    assert sql.claim(engine, seen, later) is True
    assert sql.claim(engine, seen, later) is False, "the same check, seen by another replica"
    assert sql.due(engine, T0 + timedelta(minutes=1), limit=1) == []


def test_a_bill_lands_once_and_the_charge_goes(engine: Engine) -> None:
    sql.add(engine, charge("batch_b"))
    pending_row(engine)
    (held,) = sql.get(engine, ["batch_b"])
    assert sql.finish(engine, held, BILL) is True
    assert sql.finish(engine, held, {**BILL, "cost_nanos": 9999}) is False, "billed already"
    assert ledger(engine) == [("completed", 1200, False)]
    assert sql.get(engine, ["batch_b"]) == []


def test_a_bill_waits_for_its_ledger_row(engine: Engine) -> None:
    sql.add(engine, charge("batch_c", request_id="req_9"))
    (held,) = sql.get(engine, ["batch_c"])
    assert sql.finish(engine, held, BILL) is None, "the row is still in a replica's queue"
    assert sql.get(engine, ["batch_c"]) != []
    pending_row(engine, "req_9")
    assert sql.finish(engine, held, BILL) is True


def test_a_bill_knows_the_service_its_call_was_made_by(engine: Engine) -> None:
    sql.add(engine, charge("batch_d", request_id="req_5"))
    (held,) = sql.get(engine, ["batch_d"])
    assert sql.service_of(engine, held) is None  # no row yet, or a tenant without services
    pending_row(engine, "req_5", service="search")
    assert sql.finish(engine, held, BILL) is True
    assert sql.service_of(engine, held) == "search"  # billing keeps it
