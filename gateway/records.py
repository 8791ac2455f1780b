"""Rows built on the request path as plain dataclasses generated from their SQLModel table.

Building an SQLModel table instance costs ~55 µs (SQLAlchemy instrumentation)
and a validated pydantic model several µs; a frozen slotted dataclass with the
same fields costs ~3 µs. The table class stays the one description of the row:
`record_class` derives the dataclass from it, and modules declare the record as
the table class for the type checker, so every construction is checked against
the table (see `gateway.ledger.record`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from sqlalchemy import Table
from sqlmodel import SQLModel


def columns_of(model: type[SQLModel]) -> tuple[str, ...]:
    """The columns a record fills, in table order (the primary key is the database's)."""
    table = cast(Table, model.__table__)  # type: ignore[attr-defined]
    return tuple(c.name for c in table.columns if not c.primary_key)


def record_class(model: type[SQLModel], name: str, module: str, doc: str) -> type:
    """A frozen, slotted, keyword-only dataclass with ``model``'s columns and defaults."""
    specs: list[tuple[str, Any, Any]] = []
    for column in columns_of(model):
        info = model.model_fields[column]
        if info.default_factory is not None:
            spec = dataclasses.field(default_factory=info.default_factory)  # type: ignore[arg-type]
        elif info.is_required():
            spec = dataclasses.field()
        else:
            spec = dataclasses.field(default=info.default)
        specs.append((column, info.annotation, spec))
    cls = dataclasses.make_dataclass(name, specs, frozen=True, slots=True, kw_only=True)
    cls.__module__ = module
    cls.__doc__ = doc
    return cls
