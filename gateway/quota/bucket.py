"""A token bucket with OpenAI's header semantics: remaining now, and time until full."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    capacity: float
    per_second: float
    level: float
    updated: float

    @classmethod
    def per_minute(cls, limit: int, now: float) -> TokenBucket:
        return cls(capacity=limit, per_second=limit / 60.0, level=limit, updated=now)

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.level = min(self.capacity, self.level + (now - self.updated) * self.per_second)
            self.updated = now

    def try_take(self, n: float, now: float) -> bool:
        self._refill(now)
        if n > self.level:
            return False
        self.level -= n
        return True

    def give_back(self, n: float, now: float) -> None:
        self._refill(now)
        self.level = min(self.capacity, self.level + n)

    def take_anyway(self, n: float, now: float) -> None:
        """Charge usage that already happened (may go below zero: later calls wait)."""
        self._refill(now)
        self.level -= n

    def level_at(self, now: float) -> float:
        self._refill(now)
        return self.level

    def remaining(self, now: float) -> int:
        self._refill(now)
        return max(0, math.floor(self.level))

    def seconds_until(self, n: float, now: float) -> float:
        self._refill(now)
        if n > self.capacity:
            return math.inf
        return max(0.0, (n - self.level) / self.per_second)

    def seconds_until_full(self, now: float) -> float:
        return self.seconds_until(self.capacity, now)


def rate_headers(*buckets: tuple[str, int | None, float | None]) -> dict[str, str]:
    """OpenAI's ``x-ratelimit-*`` headers, from each bucket's (name, per-minute limit, level)."""
    headers: dict[str, str] = {}
    for name, limit, level in buckets:
        if limit is not None and level is not None:
            headers[f"x-ratelimit-limit-{name}"] = str(limit)
            headers[f"x-ratelimit-remaining-{name}"] = str(max(0, math.floor(level)))
            headers[f"x-ratelimit-reset-{name}"] = go_duration(
                max(0.0, (limit - level) * 60 / limit)
            )
    return headers


def go_duration(seconds: float) -> str:
    """OpenAI's reset format: a Go duration such as ``1s``, ``12ms`` or ``6m0s``."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    minutes, secs = divmod(seconds, 60)
    if minutes < 1:
        return f"{secs:.3g}s"
    return f"{int(minutes)}m{secs:.0f}s"
