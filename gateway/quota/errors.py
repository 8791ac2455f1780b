"""Admission refusals: 429s in OpenAI's shape, with ``Retry-After`` and the reason spelt out,
and the 503 of a tenant whose shared store is unreachable."""

from __future__ import annotations

import math

from gateway.config.runtime import BudgetLimit
from gateway.errors import BudgetExceeded, RateLimited, ServiceUnavailable
from gateway.pricing import NANOS_PER_USD
from gateway.quota.windows import Window

__all__ = ["BudgetExceeded", "RateLimited"]


def usd(nanos: int) -> str:
    """Dollars with the digits that tell amounts apart: at least two decimals and three
    significant ones ($1.50, $0.0123, $0.000100), down to the nano-dollar."""
    value = nanos / NANOS_PER_USD
    decimals = 2
    if 0 < abs(value) < 1:
        decimals = min(9, max(2, 2 - math.floor(math.log10(abs(value)))))
    return f"${value:,.{decimals}f}"


def who(tenant: str, service: str | None) -> str:
    """Whose limit refused: the tenant's, or one of its services'."""
    return f"Tenant {tenant!r}" if service is None else f"Service {service!r} of tenant {tenant!r}"


def concurrency_refusal(
    tenant: str, in_flight: int, limit: int, where: str = "", service: str | None = None
) -> RateLimited:
    return RateLimited(
        f"{who(tenant, service)} already has {in_flight} requests in flight "
        f"(limit {limit}){where}.",
        code="concurrency_limit_exceeded",
        retry_after_s=1,
        headers={},
        kind="requests",
    )


def rpm_refusal(
    tenant: str, limit: int, wait: float, headers: dict[str, str], service: str | None = None
) -> RateLimited:
    return RateLimited(
        f"Rate limit reached for {_whom(tenant, service)} on requests per min (RPM): "
        f"Limit {limit}. Please try again in {wait:.2f}s.",
        code="rate_limit_exceeded",
        retry_after_s=wait,
        headers=headers,
        kind="requests",
    )


def tpm_refusal(
    tenant: str,
    limit: int,
    tokens: int,
    wait: float,
    headers: dict[str, str],
    service: str | None = None,
) -> RateLimited:
    return RateLimited(
        f"Rate limit reached for {_whom(tenant, service)} on tokens per min (TPM): "
        f"Limit {limit}, Requested {tokens}. "
        + (
            f"Please try again in {wait:.2f}s."
            if math.isfinite(wait)
            else "The request is larger than the limit."
        ),
        code="rate_limit_exceeded",
        retry_after_s=wait,
        headers=headers,
        kind="tokens",
    )


def budget_refusal(
    tenant: str, limit: BudgetLimit, window: Window, left: int, bound: int, now: float
) -> BudgetExceeded:
    if limit.service is not None:
        scope = f"budget for service {limit.service!r}"
    elif limit.tag is not None:
        scope = f"budget for the tag {limit.tag}"
    else:
        scope = f"{limit.model} budget" if limit.model else "budget"
    wait = window.resets_at.timestamp() - now
    return BudgetExceeded(
        f"Tenant {tenant!r} has {usd(max(left, 0))} left of its "
        f"{'daily' if limit.window == 'day' else 'monthly'} {scope} of {usd(limit.nanos)} "
        f"({window.key}); this call may cost up to {usd(bound)}. "
        f"The budget resets at {window.resets_at.isoformat()}.",
        retry_after_s=wait,
    )


def _whom(tenant: str, service: str | None) -> str:
    return f"tenant {tenant!r}" if service is None else f"service {service!r} of tenant {tenant!r}"


def store_unavailable(exc: Exception | None) -> ServiceUnavailable:
    """Redis is unreachable (``exc``) or not re-seeded yet, and the tenant's policy is closed."""
    return ServiceUnavailable(
        "The gateway's shared rate-limit and budget store is unreachable, and this "
        f"tenant's policy is to refuse calls then (when_store_down: closed). Try again "
        f"in a few seconds.{f' ({type(exc).__name__})' if exc else ''}",
        code="quota_store_unavailable",
        headers={"retry-after": "5"},
    )
