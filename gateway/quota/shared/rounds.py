"""What one courier round sends: the queued calls, batched into as few script calls as
keep their meaning.

A tenant's admits that share a policy and budgets go in one ``ADMIT`` call,
with the tenant's releases ahead of them; settles against the same budgets go
in one ``SETTLE`` call. A batched script checks each call in queue order
against the running levels, so a batch admits and counts exactly what the
same calls sent one by one would.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.quota.shared import scripts
from gateway.quota.shared.keys import Keys
from gateway.quota.shared.reseed import Spend
from gateway.quota.shared.scripts import Call, Part, Script

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class Op:
    """One script, or one call's part of a batched one; ``answer`` when a request waits on it."""

    call: Call | Part
    answer: asyncio.Future[object] | None = None
    position: int = 0  # a settle: the ledger row it waits for
    sent: bool = False  # a call: in a pipeline (an undo must follow it, not precede it)
    skip: bool = False  # a call whose caller left before it was sent
    spend: Spend | None = None  # a settle: its cost, should Redis have lost the reservation

    def answer_with(self, result: object) -> None:
        if self.answer is None or self.answer.done():  # the caller left; admit() undid it
            return
        if isinstance(result, Exception):
            self.answer.set_exception(result)
        else:
            self.answer.set_result(result)

    def fail(self, exc: Exception) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(exc)


@dataclass(slots=True, eq=False)
class Batch:
    """One script call of a round, and the ops whose parts it carries."""

    call: Call
    ops: list[Op] = field(default_factory=list)  # a plain call's op, or the parts: admits first

    @property
    def answered(self) -> bool:
        """Whether someone waits on this call's result (they get it, errors included)."""
        return any(op.answer is not None for op in self.ops)

    def deliver(self, result: object, missed: Callable[[Spend], None]) -> None:
        script = self.call.script
        if isinstance(result, Exception):
            for op in self.ops:
                op.answer_with(result)
        elif script is Script.ADMIT:
            for op, reply in zip(self.ops, scripts.admit_replies(result), strict=False):
                op.answer_with(reply)
        elif script is Script.SETTLE:
            for op, applied in zip(self.ops, scripts.settled(result), strict=True):
                if op.spend is not None and not applied:
                    missed(op.spend)
        else:
            for op in self.ops:
                op.answer_with(result)


def batches(keys: Keys, ops: list[Op], calls: list[Op]) -> list[Batch]:
    """The round's script calls: settles and plain scripts first, then each tenant's
    releases and admits."""
    out: list[Batch] = []
    settles: dict[tuple[str, ...], list[Op]] = {}
    releases: dict[tuple[str, str], list[Op]] = {}
    admits: dict[tuple[object, ...], list[Op]] = {}
    for op in (*ops, *calls):
        part = op.call
        if isinstance(part, Call):
            out.append(Batch(part, [op]))
        elif part.script is Script.SETTLE:
            settles.setdefault(part.keys, []).append(op)
        elif op.answer is None:  # a release
            releases.setdefault((part.tenant, part.service), []).append(op)
        else:
            admits.setdefault(part.group, []).append(op)
    for group in settles.values():
        out.append(Batch(scripts.settle_call([_part(op) for op in group]), group))
    for group in admits.values():
        head = _part(group[0])
        tenant, service = head.tenant, head.service
        freed = releases.pop((tenant, service), [])
        parts = [_part(op) for op in group]
        call = scripts.admit_call(keys, tenant, service, parts, _parts(freed))
        out.append(Batch(call, [*group, *freed]))
    for (tenant, service), freed in releases.items():
        call = scripts.admit_call(keys, tenant, service, [], _parts(freed))
        out.append(Batch(call, freed))
    return out


def _part(op: Op) -> Part:
    assert isinstance(op.call, Part)
    return op.call


def _parts(ops: list[Op]) -> list[Part]:
    return [_part(op) for op in ops]
