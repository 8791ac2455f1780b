"""The response cache's config: a tenant's policy (`cache:`) and the process's store limits.

Off by default: a cached answer is a replay of an earlier one, which a client
must have asked for (`opt_in`: per request, by header) or its operator
decided for it (`on`). See `gateway.cache`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gateway.config.base import Strict

OPT_IN_HEADER = b"x-gateway-cache"  # "use" asks for the cache; "skip" declines it under `on`


class CachePolicy(Strict):
    """A tenant's exact-match response cache (Responses and Chat Completions)."""

    mode: Literal["off", "opt_in", "on"] = Field(
        default="off",
        description="off: never; opt_in: requests sending `x-gateway-cache: use`; on: every "
        "eligible request (`x-gateway-cache: skip` declines).",
    )
    ttl_s: int = Field(default=300, ge=1, le=7 * 86400, description="How long an answer is kept.")
    max_entry_bytes: int = Field(
        default=256 * 1024,
        ge=1,
        le=16 * 1024**2,
        description="Larger answers (a JSON body or a whole event stream) are not kept.",
    )


class ResponseCacheConfig(Strict):
    """Limits of this process's in-memory store (used when GATEWAY_REDIS_URL is not set)."""

    max_bytes: int = Field(
        default=64 * 1024**2,
        ge=0,
        description="Total size of the answers kept; past it the least recently used go.",
    )
