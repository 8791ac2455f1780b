"""The ``deprecations`` section: models going away, by when, and what the gateway does meanwhile.

Keyed by a model name as clients and routes name it (a configured model, or an
upstream model name such as ``gpt-4.5-preview``): OpenAI announces retirements by
its own names, so an entry may name a model this gateway does not configure yet.
Before ``from`` an entry only warns (headers, metric); from it on its ``action``
holds: ``rewrite`` serves ``replacement`` instead, ``refuse`` answers an error
naming it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Literal

from pydantic import Field, HttpUrl

from gateway.config.base import Strict

DeprecationAction = Literal["warn", "rewrite", "refuse"]


class DeprecationConfig(Strict):
    """One model's retirement, as announced."""

    sunset: dt.date = Field(description="The day the model stops answering (OpenAI's shutdown).")
    replacement: str | None = Field(
        default=None, description="The model to move to; a configured model when action is rewrite."
    )
    action: DeprecationAction = Field(
        default="warn",
        description="warn: serve it with Deprecation/Sunset headers; rewrite: serve "
        "`replacement` instead; refuse: answer 404 naming the replacement.",
    )
    from_: dt.date | None = Field(
        default=None,
        alias="from",
        description="The day `action` starts to apply; before it the entry only warns "
        "(unset: at once).",
    )
    announced: dt.date | None = Field(
        default=None,
        description="The day it was deprecated (the Deprecation header's date; unset: `from`, "
        "else the sunset).",
    )
    link: HttpUrl | None = Field(
        default=None, description="Where clients read about it (the Link rel=deprecation)."
    )
    source: str | None = Field(default=None, description="Where the retirement was announced.")

    @property
    def deprecated_on(self) -> dt.date:
        return self.announced or self.from_ or self.sunset

    def action_on(self, today: dt.date) -> DeprecationAction:
        """The action in force on ``today``: warn before ``from``."""
        if self.from_ is not None and today < self.from_:
            return "warn"
        return self.action


def deprecation_problems(
    deprecations: Mapping[str, DeprecationConfig], models: Mapping[str, object]
) -> list[str]:
    """A rewrite must land on a configured model that is not itself rewritten."""
    problems = []
    for name, entry in deprecations.items():
        if entry.action != "rewrite":
            continue
        where = f"deprecations.{name}.replacement"
        if entry.replacement is None:
            problems.append(f"{where}: action rewrite needs a replacement")
        elif entry.replacement not in models:
            problems.append(f"{where}: unknown model {entry.replacement!r} (rewrite serves it)")
        elif entry.replacement == name or _rewritten(deprecations.get(entry.replacement)):
            problems.append(f"{where}: {entry.replacement!r} is itself rewritten")
    return problems


def _rewritten(entry: DeprecationConfig | None) -> bool:
    return entry is not None and entry.action == "rewrite"
