"""Strict checks of an answer against the official SDK's pydantic type for it.

The SDK parses answers leniently (unknown fields are kept, nothing is validated), so a
misspelt or misplaced field would pass unnoticed; these checks validate and then refuse any
field the type does not declare, at any depth. The fake's own tests use them on every kind of
object it serves, and gateway tests may use them on what the gateway relays. Only pydantic is
needed here: the caller passes the SDK type.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

LIST_KEYS = frozenset({"object", "data", "first_id", "last_id", "has_more"})


def undeclared(value: Any, path: str = "") -> set[str]:
    """Paths of the fields in a validated ``value`` that its type does not declare."""
    if isinstance(value, BaseModel):
        found = {f"{path}.{name}" for name in value.model_extra or {}}
        for name in type(value).model_fields:
            found |= undeclared(getattr(value, name), f"{path}.{name}")
        return found
    if isinstance(value, list):
        return set().union(*(undeclared(entry, path) for entry in value))
    return set()


def strict(cls: type[M], raw: Any, allowed: frozenset[str] = frozenset()) -> M:
    """``raw`` validated as ``cls``; AssertionError if it carries fields ``cls`` lacks
    (other than the ``allowed`` paths, e.g. ``".obfuscation"``)."""
    model = cls.model_validate(raw)
    extras = undeclared(model) - allowed
    if extras:
        raise AssertionError(f"{cls.__name__} carries fields the SDK does not declare: {extras}")
    return model


def strict_page(
    cls: type[M],
    raw: Any,
    allowed: frozenset[str] = frozenset(),
    keys: frozenset[str] = LIST_KEYS,
) -> list[M]:
    """A list envelope with exactly ``keys``, whose ``data`` items are each strictly ``cls``
    and whose ``first_id``/``last_id`` (when present) name its first and last items."""
    if set(raw) != keys:
        raise AssertionError(f"list envelope keys {sorted(raw)} != {sorted(keys)}")
    if raw["object"] != "list" or not isinstance(raw.get("has_more", False), bool):
        raise AssertionError(f"not a list envelope: {raw}")
    items = [strict(cls, item, allowed) for item in raw["data"]]
    if "first_id" in keys:
        ids = [item["id"] for item in raw["data"]]
        expected = (ids[0], ids[-1]) if ids else (None, None)
        if (raw["first_id"], raw["last_id"]) != expected:
            raise AssertionError(
                f"first_id/last_id {raw['first_id']}/{raw['last_id']} != {expected}"
            )
    return items
