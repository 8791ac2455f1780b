"""Usage reports for people (an aligned table with a total) and for scripts (CSV, JSON).

People read a handful of columns; scripts want every one, exactly. So the table
shows the group keys that have values, requests, attempts, the main token counts
and the cost (``wide`` adds the rest, and a column of warnings shows whenever it
is not all zeros), while CSV and JSON always carry every key and number, and the
exact ``cost_nanos`` next to ``cost_usd``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any, Literal

from gateway.ledger.queries import (
    GROUP_KEYS,
    OPTIONAL_KEYS,
    ROW_KEYS,
    SUM_FIELDS,
    TAG_PREFIX,
    UsageRow,
)

Format = Literal["table", "csv", "json"]

SHORT_COLUMNS = ("requests", "attempts", "input_tokens", "output_tokens")
"""The table's numbers unless asked for all of them."""

_WARNINGS = ("estimated_requests", "unpriced_requests")
"""Shown in the short table whenever any row has one: they qualify the cost beside them."""

CSV_HEADER = (*(k for k in GROUP_KEYS if k not in OPTIONAL_KEYS), *SUM_FIELDS, "cost_usd")
"""CSV's columns; a report grouped by service or a tag has a ``service`` or ``tag``
column after the keys too (`OPTIONAL_KEYS`)."""


def format_usage(
    rows: Iterable[UsageRow],
    fmt: Format,
    *,
    total: UsageRow | None = None,
    wide: bool = False,
    group_by: Sequence[str] = (),
) -> str:
    """A usage report as text. ``total`` (every group together) ends the table as a
    ``total`` line; CSV and JSON leave it out, so each of their rows is one group.
    ``group_by``: the report's keys, so CSV has a column for an optional key grouped by
    even when no row has a value for it."""
    rows = list(rows)
    if fmt == "json":
        return json.dumps([_record(r) for r in rows], indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        grouped = {"tag" if k.startswith(TAG_PREFIX) else k for k in group_by}
        shown = {
            k for k in OPTIONAL_KEYS if k in grouped or any(getattr(r, k) is not None for r in rows)
        }  # other reports keep their columns
        keys = (k for k in ROW_KEYS if k not in OPTIONAL_KEYS or k in shown)
        header = (*keys, *SUM_FIELDS, "cost_usd")
        writer.writerow(header)
        for r in rows:
            record = _record(r)
            writer.writerow([record[h] for h in header])
        return out.getvalue()
    if fmt == "table":
        return _table(rows, total, wide)
    raise ValueError(f"unknown format {fmt!r}; use table, csv or json")


def _record(row: UsageRow) -> dict[str, Any]:
    return {**asdict(row), "cost_usd": str(row.cost_usd)}


def _numbers(rows: list[UsageRow], wide: bool) -> list[str]:
    if wide:
        return [f for f in SUM_FIELDS if f != "cost_nanos"]
    shown = [w for w in _WARNINGS if any(getattr(r, w) for r in rows)]
    return [*SHORT_COLUMNS, *shown]


def _table(rows: list[UsageRow], total: UsageRow | None, wide: bool) -> str:
    keys = [k for k in ROW_KEYS if any(getattr(r, k) is not None for r in rows)]
    numbers = _numbers([*rows, *([total] if total else [])], wide)
    header = [*keys, *numbers, "cost_usd"]

    def cells(r: UsageRow, labels: list[str]) -> list[str]:
        return [*labels, *(str(getattr(r, n)) for n in numbers), str(r.cost_usd)]

    body = [cells(r, [_key(getattr(r, k)) for k in keys]) for r in rows]
    if total is not None and keys:  # without keys the one row already is the total
        body.append(cells(total, ["total", *([""] * (len(keys) - 1))]))
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(values: list[str]) -> str:
        parts = [
            v.ljust(w) if i < len(keys) else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [line(header), rule, *(line(c) for c in body[: len(rows)])]
    if len(body) > len(rows):
        out.extend([rule, line(body[-1])])
    return "\n".join(out) + "\n"


def _key(value: str | None) -> str:
    return "-" if value is None else value  # a call with no subject or route
