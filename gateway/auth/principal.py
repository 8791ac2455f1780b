"""Who is calling: the result of a verified token, independent of how it was verified."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Principal:
    tenant: str
    subject: str | None
    is_admin: bool
    expires_at: float  # unix seconds; verified tokens are cached until then
    token_id: str | None = None  # the `jti` claim, for revocation
    # The token's string claims (what a tenant's `services.claim` names the service by).
    claims: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
