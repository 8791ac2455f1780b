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
