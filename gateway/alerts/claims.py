"""Who sends a notification: the one replica that claims it first.

A claim is a lease: the claimer delivers, then marks the notification sent
(kept until its window is over). A claimer that dies before marking it leaves
a lease that expires, and another replica claims and sends it then. This module
is the interface and the single-process store; `gateway.alerts.redis_claims` is
the shared one.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Protocol


class ClaimState(enum.Enum):
    MINE = "mine"  # this replica sends it now, within its lease
    SENT = "sent"  # delivered already (by any replica)
    HELD = "held"  # another replica's lease is running


class ClaimsUnavailable(Exception):
    """The shared store cannot be asked: nothing is claimed, so nothing may be sent."""


class Claims(Protocol):
    async def claim(self, tenant: str, key: str, token: str, lease_s: float) -> ClaimState: ...

    async def mark_sent(self, tenant: str, key: str, keep_s: float) -> None:
        """Delivered: no replica sends it again for ``keep_s``."""
        ...

    async def release(self, tenant: str, key: str, token: str) -> None:
        """Delivery failed: let any replica (this one included) try again at once."""
        ...

    async def aclose(self) -> None: ...


_SENT = "sent"


class MemoryClaims:
    """Claims of one process (no ``GATEWAY_REDIS_URL``: there is one replica)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._held: dict[tuple[str, str], tuple[str, float]] = {}  # → (token or sent, until)

    async def claim(self, tenant: str, key: str, token: str, lease_s: float) -> ClaimState:
        now = self._clock()
        self._held = {k: v for k, v in self._held.items() if v[1] > now}
        held = self._held.get((tenant, key))
        if held is not None:
            return ClaimState.SENT if held[0] == _SENT else ClaimState.HELD
        self._held[tenant, key] = (token, now + lease_s)
        return ClaimState.MINE

    async def mark_sent(self, tenant: str, key: str, keep_s: float) -> None:
        self._held[tenant, key] = (_SENT, self._clock() + keep_s)

    async def release(self, tenant: str, key: str, token: str) -> None:
        if self._held.get((tenant, key), ("", 0.0))[0] == token:
            del self._held[tenant, key]

    async def aclose(self) -> None:
        """Nothing to close: the interface's hook for the shared store."""
