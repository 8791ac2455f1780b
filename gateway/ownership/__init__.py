"""Which tenant owns each stored upstream object (responses), checked on every access."""

from gateway.ownership.store import OwnershipStore

__all__ = ["OwnershipStore"]
