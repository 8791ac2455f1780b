"""What a reload changed, said in one line an operator can read (a pure function)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.config.runtime import RuntimeConfig

_NAMED = ("tenants", "models", "routes", "upstreams")  # maps of named entries
_WHOLE = ("defaults", "accounting", "server", "auth")


def changes(old: RuntimeConfig, new: RuntimeConfig) -> list[str]:
    """``tenants +ads -legacy ~search``, ``defaults changed``, ``prices 2026-05 -> 2026-06``."""
    before, after = old.source.model_dump(), new.source.model_dump()
    out = [
        line
        for section in _NAMED
        if (line := _named(section, before.get(section) or {}, after.get(section) or {}))
    ]
    out += [f"{section} changed" for section in _WHOLE if before.get(section) != after.get(section)]
    if old.pricing.version != new.pricing.version or old.pricing != new.pricing:
        out.append(f"prices {old.pricing.version} -> {new.pricing.version}")
    return out


def _named(section: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    added = [f"+{n}" for n in sorted(after.keys() - before.keys())]
    removed = [f"-{n}" for n in sorted(before.keys() - after.keys())]
    changed = [f"~{n}" for n in sorted(before.keys() & after.keys()) if before[n] != after[n]]
    marks = added + removed + changed
    return f"{section} {' '.join(marks)}" if marks else ""
