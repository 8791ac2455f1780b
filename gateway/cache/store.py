"""Where cached answers are kept: Redis (shared by the replicas) or this process's memory.

Both stores keep an entry's expiry in the entry and check it against the
cache's clock on every read, so expiry does not depend on the store's own
timers (Redis also drops the key itself, by ``SET ... EX``). Redis keys are
hash-tagged by tenant, ``gw:cache:{tenant}:<key>``: a tenant's entries live on
one cluster shard. A store that fails is a miss, never a failed request.
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import orjson

from gateway.quota.shared.connection import STORE_ERRORS, Client, connect

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Entry:
    """One complete answer as the client got it: a JSON body, or the raw SSE stream."""

    stream: bool
    served_model: str | None
    body: bytes
    expires_at: float  # unix time, on the cache's clock

    def encode(self) -> bytes:
        head = orjson.dumps([self.stream, self.served_model, self.expires_at])
        return len(head).to_bytes(2, "big") + head + zlib.compress(self.body, 1)

    @classmethod
    def decode(cls, raw: bytes) -> Entry:
        size = int.from_bytes(raw[:2], "big")
        stream, served_model, expires_at = orjson.loads(raw[2 : 2 + size])
        return cls(bool(stream), served_model, zlib.decompress(raw[2 + size :]), expires_at)


class Store(Protocol):
    async def get(self, tenant: str, key: str, now: float) -> Entry | None: ...
    async def put(self, tenant: str, key: str, entry: Entry, ttl_s: int) -> None: ...
    @property
    def held_bytes(self) -> int:
        """Bytes this process holds (0 for a shared store)."""
        ...

    async def aclose(self) -> None: ...


class MemoryStore:
    """Least recently used first out once the answers held pass ``max_bytes``."""

    def __init__(self, max_bytes: Callable[[], int]) -> None:
        self._max_bytes = max_bytes  # read per write: a config reload changes it
        self._entries: OrderedDict[tuple[str, str], Entry] = OrderedDict()
        self._bytes = 0

    @property
    def held_bytes(self) -> int:
        return self._bytes

    async def get(self, tenant: str, key: str, now: float) -> Entry | None:
        entry = self._entries.get((tenant, key))
        if entry is None:
            return None
        if entry.expires_at <= now:
            self._drop((tenant, key))
            return None
        self._entries.move_to_end((tenant, key))
        return entry

    async def put(self, tenant: str, key: str, entry: Entry, ttl_s: int) -> None:
        limit = self._max_bytes()
        if len(entry.body) > limit:
            return
        self._drop((tenant, key))
        self._entries[(tenant, key)] = entry
        self._bytes += len(entry.body)
        while self._bytes > limit:
            self._drop(next(iter(self._entries)))

    def _drop(self, at: tuple[str, str]) -> None:
        entry = self._entries.pop(at, None)
        if entry is not None:
            self._bytes -= len(entry.body)

    async def aclose(self) -> None:
        self._entries.clear()
        self._bytes = 0


class RedisStore:
    """After a failure the store is left alone for ``PAUSE_S``: while Redis is down, an
    eligible request pays one timeout per pause, not one per request."""

    PAUSE_S = 5.0

    def __init__(self, client: Client, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._monotonic = monotonic
        self._paused_until = float("-inf")

    @property
    def held_bytes(self) -> int:
        return 0

    async def get(self, tenant: str, key: str, now: float) -> Entry | None:
        if self._monotonic() < self._paused_until:
            return None
        try:
            raw = await self._client.get(redis_key(tenant, key))
        except STORE_ERRORS as err:
            self._failed("read", err)
            return None
        if not isinstance(raw, bytes):  # None: not there (the client never decodes)
            return None
        entry = Entry.decode(raw)
        return entry if entry.expires_at > now else None

    async def put(self, tenant: str, key: str, entry: Entry, ttl_s: int) -> None:
        if self._monotonic() < self._paused_until:
            return
        try:
            await self._client.set(redis_key(tenant, key), entry.encode(), ex=math.ceil(ttl_s))
        except STORE_ERRORS as err:
            self._failed("write", err)

    def _failed(self, what: str, err: Exception) -> None:
        self._paused_until = self._monotonic() + self.PAUSE_S
        log.warning(
            "response cache %s failed (a miss; Redis left alone %ss): %s",
            what, self.PAUSE_S, type(err).__name__,
        )  # fmt: skip

    async def aclose(self) -> None:
        await self._client.aclose()


def redis_key(tenant: str, key: str) -> str:
    return f"gw:cache:{{{tenant}}}:{key}"


def make_store(redis_url: str | None, max_bytes: Callable[[], int]) -> Store:
    return RedisStore(connect(redis_url)) if redis_url else MemoryStore(max_bytes)
