"""Which function (and custom tool) names a tenant's requests may declare: `functions:`.

Names are exact or ``fnmatch`` globs (``search_*``), compiled once into one
regular expression, so a request pays a set lookup and at most one match per name.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

FunctionPattern = Annotated[str, Field(min_length=1, max_length=128)]

FunctionPatterns = Annotated[
    list[FunctionPattern],
    Field(
        description="Function and custom tool names a request may declare, exact or glob "
        '("search_*"); "*" allows all. Names listed exactly are the labels of '
        "gateway_tool_calls_total.",
    ),
]

_GLOB = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class FunctionAllowList:
    """A tenant's allowed names: the exact ones, and the globs as one compiled pattern."""

    exact: frozenset[str]
    globs: re.Pattern[str] | None
    patterns: tuple[str, ...] = ()  # as configured (what `GET /admin/config` shows)

    def allows(self, name: str) -> bool:
        return name in self.exact or (self.globs is not None and self.globs.match(name) is not None)


def compile_functions(patterns: list[str]) -> FunctionAllowList | None:
    """The compiled allow-list; None when ``*`` allows every name."""
    if "*" in patterns:
        return None
    globs = [p for p in patterns if not _GLOB.isdisjoint(p)]
    exact = frozenset(p for p in patterns if _GLOB.isdisjoint(p))
    joined = "|".join(f"(?:{fnmatch.translate(g)})" for g in globs)
    return FunctionAllowList(exact, re.compile(joined) if globs else None, tuple(patterns))
