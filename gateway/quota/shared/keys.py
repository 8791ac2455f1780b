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
        """A key of no tenant (``replicas``, ``alive:<replica>``, ``tenants:<replica>``)."""
        return self.prefix + ":".join(parts)

    def mine(self, kind: str) -> str:
        """This replica's own key of a kind (``alive``, ``tenants``)."""
        return self.of(kind, self.replica)

    def tenant(self, kind: str, tenant: str, *rest: str) -> str:
        """A key of one tenant: hash-tagged, so all of a tenant's keys share a Cluster slot
        (tenant names cannot hold braces: `gateway.config.base.Name`)."""
        return ":".join((f"{self.prefix}{kind}:{{{tenant}}}", *rest))

    def res(self, tenant: str, replica: str | None = None) -> str:
        return self.tenant("res", tenant, replica or self.replica)

    def inflight(self, tenant: str, replica: str | None = None) -> str:
        return self.tenant("inflight", tenant, replica or self.replica)

    def budget(self, counter: CounterKey) -> str:
        tenant, model, window = counter
        return self.tenant("budget", tenant, model or "*", window)
