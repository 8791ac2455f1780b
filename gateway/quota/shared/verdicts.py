"""What an ``ADMIT`` answered for one call: admitted (with the levels), or which limit refused,
worded as the in-process store words the same refusal (`gateway.quota.errors`)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, cast

from gateway.config.runtime import BudgetLimit, Policy
from gateway.config.tenant import ServiceLimits
from gateway.quota.bucket import rate_headers
from gateway.quota.budgets import service_limits
from gateway.quota.errors import budget_refusal, concurrency_refusal, rpm_refusal, tpm_refusal
from gateway.quota.ticket import Ticket
from gateway.quota.windows import Window, WindowKind

Counted = list[tuple[BudgetLimit, str]]  # the budgets a call counts against, with their keys


class Verdict(IntEnum):
    """The first element of ``ADMIT``'s reply."""

    ADMITTED = 0
    TOO_MANY_IN_FLIGHT = 1
    RPM_EXHAUSTED = 2
    TPM_EXHAUSTED = 3
    OVER_BUDGET = 4
    UNSEEDED = 5  # Redis lost its data and its budgets are not re-seeded yet
    SERVICE_TOO_MANY_IN_FLIGHT = 6  # 6-8: the call's service's own limits
    SERVICE_RPM_EXHAUSTED = 7
    SERVICE_TPM_EXHAUSTED = 8


_SERVICE_VERDICTS = {
    Verdict.SERVICE_TOO_MANY_IN_FLIGHT: Verdict.TOO_MANY_IN_FLIGHT,
    Verdict.SERVICE_RPM_EXHAUSTED: Verdict.RPM_EXHAUSTED,
    Verdict.SERVICE_TPM_EXHAUSTED: Verdict.TPM_EXHAUSTED,
}


@dataclass(frozen=True, slots=True)
class AdmitReply:
    verdict: Verdict
    over_budget: bool = False  # admitted past a budget (soft mode, or forced)
    requests: float = 0.0  # the RPM bucket's level (after the admit, or at the refusal)
    tokens: float = 0.0  # the TPM bucket's level
    in_flight: int = 0
    budget: int = 0  # the refusing budget's index among the call's budgets
    left: int = 0  # nanos that budget had left
    epoch: bytes | None = None  # the seeding the tenant's budgets stand on (budgeted admits)
    service: bool = False  # refused by the call's service's own limit, not the tenant's

    @classmethod
    def decode(cls, raw: object) -> AdmitReply:
        reply = cast(list[Any], raw)
        verdict = Verdict(int(reply[0]))
        if verdict in _SERVICE_VERDICTS:
            reply = [_SERVICE_VERDICTS[verdict], *reply[1:]]
            return dataclasses.replace(cls.decode(reply), service=True)
        if verdict is Verdict.ADMITTED:
            over, requests, tokens = bool(int(reply[1])), _float(reply[2]), _float(reply[3])
            return cls(verdict, over, requests, tokens, epoch=reply[4] or None)
        if verdict is Verdict.TOO_MANY_IN_FLIGHT:
            return cls(verdict, in_flight=int(reply[1]))
        if verdict is Verdict.RPM_EXHAUSTED:
            return cls(verdict, requests=_float(reply[1]))
        if verdict is Verdict.TPM_EXHAUSTED:
            return cls(verdict, tokens=_float(reply[1]))
        if verdict is Verdict.OVER_BUDGET:
            return cls(verdict, budget=int(reply[1]) - 1, left=int(float(reply[2])))
        return cls(verdict)

    def headers(self, policy: Policy) -> dict[str, str]:
        return rate_headers(
            ("requests", policy.rpm, self.requests), ("tokens", policy.tpm, self.tokens)
        )

    def refusal(
        self,
        ticket: Ticket,
        policy: Policy,
        counted: Counted,
        windows: dict[WindowKind, Window],
        now: float,
    ) -> Exception:
        """The 429 of a refusing verdict, worded as the in-process store words it."""
        tenant, service, limits = ticket.tenant, None, cast(Policy | ServiceLimits, policy)
        if self.service:
            service = ticket.service
            limits = service_limits(policy, service) or policy
        if self.verdict is Verdict.TOO_MANY_IN_FLIGHT:
            limit = cast(int, limits.concurrent)
            where = ", across all replicas"
            return concurrency_refusal(tenant, self.in_flight, limit, where, service)
        if self.verdict is Verdict.RPM_EXHAUSTED:
            rpm = cast(int, limits.rpm)
            wait = (1 - self.requests) * 60 / rpm
            headers = rate_headers(("requests", rpm, self.requests))
            return rpm_refusal(tenant, rpm, wait, headers, service)
        if self.verdict is Verdict.TPM_EXHAUSTED:
            tpm, want, level = cast(int, limits.tpm), ticket.tokens, self.tokens
            wait = (want - level) * 60 / tpm if want <= tpm else math.inf
            headers = rate_headers(("tokens", tpm, level))
            return tpm_refusal(tenant, tpm, want, wait, headers, service)
        assert self.verdict is Verdict.OVER_BUDGET, self.verdict
        budget, _ = counted[self.budget]
        window = windows[budget.window]
        return budget_refusal(tenant, budget, window, self.left, ticket.bound, now)


def _float(raw: object) -> float:
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return float(text) if text else 0.0
