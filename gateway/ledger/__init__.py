"""The metering ledger: a row per upstream attempt, batched writes, budget and usage queries."""

from gateway.ledger.queries import (
    GROUP_KEYS,
    NO_TAG,
    OPTIONAL_KEYS,
    ROW_KEYS,
    TAG_PREFIX,
    TOKEN_FIELDS,
    ScopeKey,
    UsageRow,
    nanos_to_usd,
    recorded_costs,
    spend_by_scope,
    spend_by_tenant_model,
    tag_key_of,
    usage_report,
)
from gateway.ledger.record import COLUMNS, LedgerRecord, RowLayout, row_layout
from gateway.ledger.table import LedgerEntry
from gateway.ledger.usage_format import format_usage
from gateway.ledger.writer import Ledger

__all__ = [
    "COLUMNS",
    "GROUP_KEYS",
    "NO_TAG",
    "OPTIONAL_KEYS",
    "ROW_KEYS",
    "TAG_PREFIX",
    "TOKEN_FIELDS",
    "Ledger",
    "LedgerEntry",
    "LedgerRecord",
    "RowLayout",
    "ScopeKey",
    "UsageRow",
    "format_usage",
    "nanos_to_usd",
    "recorded_costs",
    "row_layout",
    "spend_by_scope",
    "spend_by_tenant_model",
    "tag_key_of",
    "usage_report",
]
