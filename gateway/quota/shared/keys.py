"""The Redis key names of one replica (the layout is described in `lua`)."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

from gateway.quota.orphans import CounterKey


def new_replica_id() -> str:
    """Unique across hosts and restarts: a reused id would inherit a dead replica's holds."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str
    replica: str

    def of(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def mine(self, kind: str) -> str:
        """This replica's own key of a kind (``res``, ``inflight``, ``tenants``, ``alive``)."""
        return self.of(kind, self.replica)

    def budget(self, counter: CounterKey) -> str:
        tenant, model, window = counter
        return f"{self.prefix}budget:{tenant}:{model or '*'}:{window}"
