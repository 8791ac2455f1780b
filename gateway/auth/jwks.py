"""A JWKS key cache that cannot be used as a denial-of-service lever.

Keys are refreshed when stale; an unknown ``kid`` triggers a refetch at most
once per ``min_refetch_s`` (so a flood of forged kids costs one request per
window), concurrent refetches share one request, and a failing JWKS endpoint
leaves the cached keys in service.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWKError, PyJWKSetError

log = logging.getLogger(__name__)


class JwksCache:
    def __init__(
        self,
        url: str,
        *,
        cache_s: float,
        min_refetch_s: float,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._url = url
        self._cache_s = cache_s
        self._min_refetch_s = min_refetch_s
        self._session = session
        self._owns_session = session is None
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at = 0.0
        self._attempted_at = -float("inf")
        self._lock = asyncio.Lock()
        self.fetches = 0  # exposed for tests and metrics

    async def get(self, kid: str | None) -> PyJWK | None:
        now = time.monotonic()
        key = self._lookup(kid)
        stale = now - self._fetched_at > self._cache_s
        if key is not None and not stale:
            return key
        if now - self._attempted_at >= self._min_refetch_s or (stale and not self._keys):
            await self._refresh()
        return self._lookup(kid)

    def _lookup(self, kid: str | None) -> PyJWK | None:
        if kid is None:
            # A token without kid is acceptable only when the set has exactly one key.
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        attempted = self._attempted_at
        async with self._lock:
            if self._attempted_at != attempted:
                return  # someone else refreshed while we waited
            self._attempted_at = time.monotonic()
            self.fetches += 1
            if self._session is None:
                self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
            try:
                async with self._session.get(self._url, raise_for_status=True) as resp:
                    data: Any = await resp.json(content_type=None)
                keyset = PyJWKSet.from_dict(data)
            except (
                aiohttp.ClientError,
                TimeoutError,
                ValueError,
                PyJWKError,
                PyJWKSetError,
            ) as exc:
                log.warning("jwks fetch failed; keeping %d cached keys: %s", len(self._keys), exc)
                return
            self._keys = {k.key_id: k for k in keyset.keys if k.key_id}
            if not self._keys and len(keyset.keys) == 1:
                self._keys = {"": keyset.keys[0]}
            self._fetched_at = time.monotonic()

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
