"""A tenant's moderation pre-check (`moderation:`): which model, which categories refuse.

The categories are OpenAI's moderation categories, as the API names them in
``results[].categories``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from gateway.config.base import Strict

CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
    "illicit/violent", "self-harm", "self-harm/intent", "self-harm/instructions", "sexual",
    "sexual/minors", "violence", "violence/graphic",
)  # fmt: skip


class ModerationPolicy(Strict):
    """Before a Responses or Chat call is admitted, its input text goes to
    ``/v1/moderations`` (metered as its own call, endpoint ``moderations``)."""

    model: str = Field(
        default="omni-moderation-latest",
        description="The moderation model (a configured model, priced in the price table).",
    )
    categories: list[str] = Field(
        default=["*"],
        description='Flagged categories that refuse the call (400 content_flagged); "*": any.',
    )
    on_error: Literal["fail_open", "fail_closed"] = Field(
        default="fail_closed",
        description="When the moderation call fails: fail_open admits the call (logged and "
        "counted); fail_closed answers 503.",
    )

    @field_validator("categories")
    @classmethod
    def _known(cls, categories: list[str]) -> list[str]:
        unknown = [c for c in categories if c != "*" and c not in CATEGORIES]
        if unknown:
            raise ValueError(f"unknown moderation categories {unknown} (known: {CATEGORIES})")
        return categories
