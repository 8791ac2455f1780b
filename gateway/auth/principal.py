"""Who is calling: the result of a verified token, independent of how it was verified."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    tenant: str
    subject: str | None
    is_admin: bool
    expires_at: float  # unix seconds; verified tokens are cached until then
    token_id: str | None = None  # the `jti` claim, for revocation
