"""Whether Redis answers, as this replica last saw it: the server, or each Cluster shard.

A request does not wait on a shard in the second after it failed (its tenants
get their ``when_store_down`` at once). The store counts as up again only when
every shard that failed has answered since: the courier's next pipeline to it,
or the maintenance round's probe, so ``gateway_quota_store_up`` does not flap
while one shard stays down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

RETRY_DOWN_S = 1.0  # after a failure, requests do not wait on Redis (or that shard) this long
SERVER = ""  # the shard name of a single server


class Health:
    def __init__(self, clock: Callable[[], float], *, sharded: bool = False) -> None:
        self._clock = clock
        self._sharded = sharded  # a Cluster: a failure blocks only the shard it names
        self.up = True
        self.down_until: dict[str, float] = {}  # shard -> failed; not asked before this time
        self.up_since = 0.0  # connected without a break since (reclaiming waits for a TTL)
        self._fell_back = False  # a request fell back since the store was last up

    def asking(self, now: float, shard: str = SERVER) -> bool:
        """Whether a request at ``now`` waits on Redis, or on one shard of a Cluster."""
        return now >= self.down_until.get(shard, 0.0)

    def went_down(self, exc: Exception, shard: str | None = None) -> None:
        """Redis, or a shard, failed. ``None``: no tenant's shard (a heartbeat, a maintenance
        round): a single server is down all the same, a Cluster blocks no shard for it."""
        if self.up:
            log.error("Redis unreachable (%s): applying each tenant's when_store_down", exc)
        self.up = False
        if shard is None and not self._sharded:
            shard = SERVER
        if shard is not None:
            self.down_until[shard] = self._clock() + RETRY_DOWN_S

    def down_shards(self) -> list[str]:
        """Cluster shards that failed and have not answered since."""
        return [shard for shard in self.down_until if shard != SERVER]

    def answered(self, shard: str = SERVER) -> None:
        """Redis, or a shard, answered (the heartbeat answers for a single server)."""
        self.down_until.pop(shard, None)
        if self.down_until:
            return  # another shard is still down
        if not self.up:
            log.warning("Redis is reachable again: shared limits and budgets are back")
            self.up_since = self._clock()
        elif not self.up_since:
            self.up_since = self._clock()
        self.up, self._fell_back = True, False

    def first_fallback(self) -> bool:
        """True for the first request of an outage that falls back to this replica's limits."""
        first, self._fell_back = not self._fell_back, True
        return first
