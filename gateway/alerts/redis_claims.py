"""Claims in Redis, shared by every replica (``GATEWAY_REDIS_URL``, one server or a Cluster).

One key per notification, hash-tagged by tenant like the quota's keys:
``gw:alert:{tenant}:<event id>:<webhook>``. Its value is the claimer's token
while the lease runs (``SET NX PX``), then ``sent`` until the window is over.
Every Redis failure is `ClaimsUnavailable`: the caller keeps the notification
pending and asks again next round.
"""

from __future__ import annotations

import math

from gateway.alerts.claims import ClaimState, ClaimsUnavailable
from gateway.quota.shared.connection import STORE_ERRORS, Client, connect
from gateway.quota.shared.keys import Keys

_SENT = b"sent"
# Delete the key only while it still holds this claimer's token (its lease may have
# passed to another replica meanwhile).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisClaims:
    def __init__(self, url: str, prefix: str = "gw:") -> None:
        self._client: Client = connect(url)
        self._keys = Keys(prefix, "")

    def _key(self, tenant: str, key: str) -> str:
        return self._keys.tenant("alert", tenant, key)

    async def claim(self, tenant: str, key: str, token: str, lease_s: float) -> ClaimState:
        name = self._key(tenant, key)
        try:
            if await self._client.set(name, token, nx=True, px=_ms(lease_s)):
                return ClaimState.MINE
            held = await self._client.get(name)
        except STORE_ERRORS as exc:
            raise ClaimsUnavailable(str(exc)) from exc
        return ClaimState.SENT if held == _SENT else ClaimState.HELD  # gone meanwhile: next round

    async def mark_sent(self, tenant: str, key: str, keep_s: float) -> None:
        try:
            await self._client.set(self._key(tenant, key), _SENT, px=_ms(keep_s))
        except STORE_ERRORS as exc:
            raise ClaimsUnavailable(str(exc)) from exc

    async def release(self, tenant: str, key: str, token: str) -> None:
        try:
            await self._client.eval(_RELEASE, 1, self._key(tenant, key), token)
        except STORE_ERRORS as exc:
            raise ClaimsUnavailable(str(exc)) from exc

    async def aclose(self) -> None:
        await self._client.aclose()


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))
