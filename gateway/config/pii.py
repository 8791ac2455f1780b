"""A tenant's PII and secret redaction policy (`pii:`), as the config file writes it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gateway.config.base import Strict

PiiEntity = Literal["email", "phone", "card", "iban", "national_id", "ip", "secret"]
PII_ENTITIES: tuple[PiiEntity, ...] = (
    "email", "phone", "card", "iban", "national_id", "ip", "secret",
)  # fmt: skip


class PiiPolicy(Strict):
    """What the gateway does with PII and secrets in a request's input text before the upstream."""

    mode: Literal["off", "log", "mask", "block"] = Field(
        default="off",
        description="off: nothing is scanned; log: log and count the kinds found; mask: send "
        "placeholders («EMAIL_1») instead of the values; block: refuse the call (400 "
        "pii_detected) before admission, so it costs no quota.",
    )
    entities: list[PiiEntity] = Field(
        default=list(PII_ENTITIES),
        min_length=1,
        description="Kinds looked for: email, phone, card (Luhn-checked), iban (mod-97), "
        "national_id (check digits where the id has them), ip, secret (API keys, tokens, "
        "private keys, passwords in assignments and URLs).",
    )
    restore: bool = Field(
        default=False,
        description="mask only: put the values back where the answer repeats a placeholder "
        "(JSON and streams, tool-call arguments included).",
    )
