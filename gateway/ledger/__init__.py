"""The metering ledger: a row per upstream attempt, batched writes, budget and usage queries."""

from gateway.ledger.queries import (
    GROUP_KEYS,
    TOKEN_FIELDS,
    UsageRow,
    format_usage,
    nanos_to_usd,
    spend_by_tenant_model,
    usage_report,
)
from gateway.ledger.record import LedgerRecord, record_to_row
from gateway.ledger.table import LedgerEntry
from gateway.ledger.writer import Ledger

__all__ = [
    "GROUP_KEYS",
    "TOKEN_FIELDS",
    "Ledger",
    "LedgerEntry",
    "LedgerRecord",
    "UsageRow",
    "format_usage",
    "nanos_to_usd",
    "record_to_row",
    "spend_by_tenant_model",
    "usage_report",
]
