"""Vector-store storage, charged once a day per store as ledger rows (`gateway.storage.meter`)."""

from gateway.storage.meter import Run, StorageMeter

__all__ = ["Run", "StorageMeter"]
