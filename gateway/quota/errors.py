"""Admission refusals: 429s in OpenAI's shape, with ``Retry-After`` and the reason spelt out."""

from __future__ import annotations

import math

from gateway.errors import GatewayError


class RateLimited(GatewayError):
    status = 429
    type = "requests"

    def __init__(
        self, message: str, *, code: str, retry_after_s: float, headers: dict[str, str], kind: str
    ) -> None:
        retry = max(1, math.ceil(retry_after_s)) if math.isfinite(retry_after_s) else 60
        super().__init__(
            message,
            code=code,
            headers={**headers, "retry-after": str(retry), "retry-after-ms": str(retry * 1000)},
        )
        self.type = kind
        if not math.isfinite(retry_after_s):
            self.headers["x-should-retry"] = "false"


class BudgetExceeded(GatewayError):
    """Not retryable soon: the SDK would retry a 429, so ``x-should-retry: false`` says not to."""

    status = 429
    type = "insufficient_quota"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(
            message,
            code="budget_exceeded",
            headers={
                "retry-after": str(max(1, math.ceil(retry_after_s))),
                "x-should-retry": "false",
            },
        )
