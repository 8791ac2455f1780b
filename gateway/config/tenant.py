"""A tenant's policy as the config file writes it: models, endpoints, limits, budgets, caps.

Part of the config's typed shape (`gateway.config.model`); `gateway.config.runtime`
compiles it into the `Policy` a request is served under.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from gateway.config.alerts import TenantAlerts
from gateway.config.base import Strict, Usd
from gateway.config.cache import CachePolicy
from gateway.config.functions import FunctionPatterns
from gateway.config.moderation import ModerationPolicy
from gateway.config.pii import PiiPolicy

HOSTED_TOOLS = (
    "web_search",
    "file_search",
    "code_interpreter",
    "image_generation",
    "computer_use",
    "mcp",
    "shell",
)


# Endpoint families a tenant can be allowed (`endpoints:`); `models` (the list) is always allowed.
ENDPOINT_FAMILIES = (
    "responses", "chat", "realtime", "embeddings", "moderations", "images", "audio",
    "files", "uploads", "vector_stores", "conversations", "batches", "containers",
)  # fmt: skip


class ImagesPolicy(Strict):
    """Limits on image calls beyond the API's own."""

    max_per_request: int = Field(
        default=10, ge=1, le=10, description="Images one call may ask for (`n`)."
    )


class FilesPolicy(Strict):
    """Limits on what a tenant stores upstream through `/v1/files` and `/v1/uploads`."""

    max_bytes: int = Field(
        default=512 * 1024**2, ge=1, description="Largest file a tenant may upload, in bytes."
    )
    purposes: list[str] = Field(
        default=["*"], description='Purposes a tenant may upload files for; "*" allows all.'
    )
    max_files: int | None = Field(
        default=None, ge=1, description="Files a tenant may keep upstream at once (null: no limit)."
    )


class Limits(Strict):
    rpm: int | None = Field(default=None, ge=1, description="Requests per minute.")
    tpm: int | None = Field(default=None, ge=1, description="Tokens per minute (estimated).")
    concurrent: int | None = Field(default=None, ge=1, description="Requests in flight.")
    realtime_sessions: int | None = Field(
        default=None, ge=1, description="Realtime sessions open at once (WebSocket and calls)."
    )
    when_store_down: Literal["closed", "open"] = Field(
        default="closed",
        description="With GATEWAY_REDIS_URL, while Redis is unreachable: closed answers 503; "
        "open admits against this replica's own limits and last known budget levels.",
    )


class RealtimePolicy(Strict):
    """How long a Realtime session may run, and what running out of budget does to it."""

    max_session_s: float = Field(
        default=3600, gt=0, description="A session is closed (with an error event) after this."
    )
    idle_timeout_s: float = Field(
        default=600, gt=0, description="Closed when the client sends nothing for this long."
    )
    single_use_secrets: bool = Field(
        default=False, description="A client secret the gateway mints opens one session only."
    )
    over_budget: Literal["error", "close"] = Field(
        default="error",
        description="error: refuse that response with a budget_exceeded event, keep the "
        "session; close: also close the session.",
    )


TAGS_TEXT_MAX = 512  # `ledger.tags`' length: every allowed tag at its longest fits

TAG_VALUE = re.compile(r"[A-Za-z0-9._:/@+-]+")  # no "," or "=": the ledger's text splits back

TagKey = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_.-]*$")]


class TagsPolicy(Strict):
    """Which cost-attribution tags a tenant's calls may carry (`x-gateway-tags`, `metadata`).

    The allow-list bounds the ledger's cardinality: at most these keys, each value at most
    ``max_value_len`` characters of a safe charset.
    """

    keys: list[TagKey] = Field(
        default_factory=list, description="Tag keys a call may carry; none: no tags accepted."
    )
    max_value_len: int = Field(default=64, ge=1, le=128, description="Longest tag value.")
    from_metadata: bool = Field(
        default=False,
        description="Also read the allow-listed keys from the request body's `metadata` "
        "(the x-gateway-tags header wins on a conflict).",
    )
    budgets: dict[str, ScopedBudget] = Field(
        default_factory=dict,
        description='Budgets of the calls carrying one tag, keyed "key=value" (the key '
        "allow-listed above).",
    )

    @model_validator(mode="after")
    def _fits_the_ledger(self) -> TagsPolicy:
        """Every key at its longest value must fit `ledger.tags`: a cut text would
        attribute the last tag to a value nobody sent."""
        longest = sum(len(k) + 2 + self.max_value_len for k in self.keys) - 1
        if longest > TAGS_TEXT_MAX:
            raise ValueError(
                f"tags: {len(self.keys)} keys with values of up to {self.max_value_len} "
                f"characters make up to {longest}; the ledger keeps {TAGS_TEXT_MAX} "
                "(fewer keys or a lower max_value_len)"
            )
        for pair in self.budgets:
            key, sep, value = pair.partition("=")
            if not sep or key not in self.keys or not TAG_VALUE.fullmatch(value):
                raise ValueError(
                    f"tags.budgets: {pair!r} is not key=value with an allow-listed key "
                    f"({', '.join(self.keys) or 'none allowed'}) and a valid value"
                )
            if len(value) > self.max_value_len:
                raise ValueError(f"tags.budgets: {pair!r}: value longer than max_value_len")
        return self


class WindowBudget(Strict):
    daily_usd: Usd | None = None
    monthly_usd: Usd | None = None


class ScopedBudget(WindowBudget):
    """A budget of part of a tenant's traffic (a service, a tag), inside the tenant's own."""

    mode: Literal["strict", "soft"] = Field(
        default="strict",
        description="strict: refuse calls whose cost bound does not fit; soft: admit and alert.",
    )


class Budgets(WindowBudget):
    """USD budgets per calendar day and month (in ``accounting.timezone``)."""

    mode: Literal["strict", "soft"] = Field(
        default="strict",
        description="strict: refuse calls whose cost bound does not fit; soft: admit and alert.",
    )
    models: dict[str, WindowBudget] = Field(
        default_factory=dict, description="Extra budgets for single models."
    )


OTHER_SERVICE = "other"  # where calls of services not listed are counted (`unlisted: group`)

ServiceName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@:/-]+$")]


class ServiceLimits(Strict):
    rpm: int | None = Field(default=None, ge=1, description="Requests per minute.")
    tpm: int | None = Field(default=None, ge=1, description="Tokens per minute (estimated).")
    concurrent: int | None = Field(default=None, ge=1, description="Requests in flight.")


class ServicePolicy(Strict):
    """One service's share of its tenant: limits and budgets inside the tenant's own."""

    limits: ServiceLimits = ServiceLimits()
    budgets: ScopedBudget = ScopedBudget()


class ServicesPolicy(Strict):
    """The services of a team: which claim names them, and what each may use.

    The ledger, metrics and limits know only the services listed here plus
    ``other``, so a token minted with a new subject cannot grow any of them.
    """

    claim: str = Field(
        default="sub", min_length=1, description="The JWT claim naming the calling service."
    )
    unlisted: Literal["group", "refuse"] = Field(
        default="group",
        description=f"A service not listed: group counts it as {OTHER_SERVICE!r} (limits "
        f"listed under {OTHER_SERVICE!r} apply to all of them together); refuse answers 403.",
    )
    known: dict[ServiceName, ServicePolicy] = Field(
        default_factory=dict, description="The services, by the claim's value."
    )


class TenantPolicy(Strict):
    """What one tenant may do. Tenants not listed get `defaults` (or are refused without it)."""

    enabled: bool = True
    models: list[str] = Field(
        default=["*"], description='Model names the tenant may request; "*" means every model.'
    )
    endpoints: list[str] = Field(
        default=["*"],
        description=f'Endpoint families allowed ({", ".join(ENDPOINT_FAMILIES)}); "*" allows all.',
    )
    limits: Limits = Limits()
    budgets: Budgets = Budgets()
    realtime: RealtimePolicy = RealtimePolicy()
    files: FilesPolicy = FilesPolicy()
    images: ImagesPolicy = ImagesPolicy()
    tags: TagsPolicy = TagsPolicy()
    pii: PiiPolicy = Field(default=PiiPolicy(), description="PII and secret redaction.")
    services: ServicesPolicy | None = Field(
        default=None, description="Services inside the tenant (none: calls are not split)."
    )
    alerts: TenantAlerts | None = Field(
        default=None, description="Its own alert webhooks and thresholds (none: `alerts:`)."
    )
    max_output_tokens: int | None = Field(
        default=None,
        ge=1,
        description="Output cap set on every call (reasoning included); none: a request that "
        "sets no cap goes as it came, bounded at the model's own limit.",
    )
    max_output_tokens_by_model: dict[str, int] = Field(default_factory=dict)
    output_cap_mode: Literal["clamp", "reject"] = Field(
        default="clamp", description="What to do with a request asking for more than the cap."
    )
    max_tool_calls: int = Field(
        default=8, ge=1, description="Set on Responses calls with fee-charging hosted tools."
    )
    store: bool | None = Field(
        default=None, description="false forces store:false upstream; null leaves it to clients."
    )
    tools: list[str] = Field(
        default=["*"],
        description=f'Hosted tools allowed ({", ".join(HOSTED_TOOLS)}); "*" allows all.',
    )
    service_tiers: list[str] = Field(default=["*"], description="Allowed service_tier values.")
    functions: FunctionPatterns = Field(default=["*"])
    moderation: ModerationPolicy | None = Field(default=None, description="None: no pre-check.")
    prompt_cache_key: Literal["tenant", "off"] = Field(
        default="off",
        description="tenant: set prompt_cache_key to tenant:<name> when the client gave none "
        "(one cache routing key for the tenant's whole traffic); off: leave it to clients.",
    )
    cache: CachePolicy = Field(default=CachePolicy(), description="Exact-match response cache.")
