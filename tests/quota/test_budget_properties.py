"""Property: no interleaving of admits and settles takes a strict budget past its limit."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.config.runtime import BudgetLimit, Policy
from gateway.quota.errors import BudgetExceeded
from gateway.quota.memory import MemoryQuota
from gateway.quota.ticket import Ticket

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC).timestamp()
LIMIT = 1_000_000

# An op: ("admit", bound) or ("settle", index into open tickets, fraction of the bound spent).
ops = st.lists(
    st.one_of(
        st.tuples(st.just("admit"), st.integers(min_value=0, max_value=400_000)),
        st.tuples(
            st.just("settle"),
            st.integers(min_value=0, max_value=50),
            st.floats(min_value=0, max_value=1),
        ),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(ops=ops, spent_before=st.integers(min_value=0, max_value=LIMIT))
def test_strict_budgets_never_overshoot(ops: list[tuple], spent_before: int) -> None:  # type: ignore[type-arg]
    quota = MemoryQuota(ZoneInfo("UTC"))
    policy = Policy(
        enabled=True,
        allowed_models=frozenset({"m"}),
        budgets=(BudgetLimit("day", None, LIMIT), BudgetLimit("month", "m", LIMIT * 2)),
    )
    quota.load_spend({("t", None, "2026-11-25"): spent_before})
    open_tickets: list[Ticket] = []
    for op in ops:
        if op[0] == "admit":
            with contextlib.suppress(BudgetExceeded):
                open_tickets.append(
                    quota.admit_now("t", "m", policy, bound=op[1], tokens=0, now=NOW)
                )
        elif open_tickets:
            ticket = open_tickets.pop(op[1] % len(open_tickets))
            quota.settle(ticket, int(ticket.bound * op[2]), 0, NOW)
        day = next(s for s in quota.status("t", policy, NOW) if s.window == "day")
        # Spent plus everything still reserved never passes the limit (unless the ledger
        # already had more than the limit before start-up, which admits nothing new).
        assert day.spent_nanos + day.reserved_nanos <= max(LIMIT, spent_before)
    for ticket in open_tickets:
        quota.settle(ticket, ticket.bound, 0, NOW)  # the worst case: every bound fully used
    day = next(s for s in quota.status("t", policy, NOW) if s.window == "day")
    assert day.reserved_nanos == 0
    assert day.spent_nanos <= max(LIMIT, spent_before)
