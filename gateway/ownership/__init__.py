"""Which tenant owns each upstream object the gateway passes through, checked on every access."""

from gateway.ownership.sql import Owned
from gateway.ownership.store import OwnershipStore
from gateway.ownership.table import KINDS, ObjectKind

__all__ = ["KINDS", "ObjectKind", "Owned", "OwnershipStore"]
