"""The config file's typed shape: what platform teams write in ``config/gateway.yaml``.

These models are the single source of truth: the loader validates against them
and ``config/gateway.schema.json`` is generated from them. Secrets never live
here; fields ending in ``_env`` name environment variables.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

HS_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
Algorithm = Literal[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "EdDSA",
]  # fmt: skip
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthConfig(Strict):
    """How client JWTs are verified. HS* keys come from an env var, asymmetric ones from JWKS."""

    algorithms: list[Algorithm] = Field(default=["HS256"], min_length=1)
    hs256_secret_env: EnvName | None = Field(
        default="GATEWAY_JWT_SECRET", description="Env var holding the HMAC secret for HS* tokens."
    )
    hs256_previous_secret_env: EnvName | None = Field(
        default=None,
        description="During a rotation: env var holding the secret tokens were signed with "
        "before; they stay valid until they expire (new tokens use hs256_secret_env).",
    )
    jwks_url: HttpUrl | None = Field(default=None, description="JWKS endpoint for RS*/ES*/PS*.")
    jwks_cache_s: float = Field(default=3600, gt=0, description="Refresh keys after this long.")
    jwks_min_refetch_s: float = Field(
        default=30, ge=0, description="Floor between refetches triggered by an unknown kid."
    )
    issuer: str | None = Field(default=None, description="Required `iss` when set.")
    audience: str | None = Field(default=None, description="Required `aud` when set.")
    leeway_s: float = Field(default=30, ge=0, le=600)
    tenant_claim: str = Field(default="tenant", min_length=1)
    subject_claim: str = Field(default="sub", min_length=1)
    roles_claim: str = Field(default="roles", description="Claim holding a role or list of roles.")
    admin_role: str = Field(default="gateway-admin", min_length=1)

    @model_validator(mode="after")
    def _keys_for_algorithms(self) -> AuthConfig:
        algs = set(self.algorithms)
        if algs & HS_ALGORITHMS and not self.hs256_secret_env:
            raise ValueError("HS* algorithms are allowed but hs256_secret_env is not set")
        if algs & ASYMMETRIC_ALGORITHMS and self.jwks_url is None:
            raise ValueError("asymmetric algorithms are allowed but jwks_url is not set")
        return self


class RetryConfig(Strict):
    """Retries of idempotent failures (connect errors, 429, 502/503/504) on the same upstream."""

    max_retries: int = Field(default=1, ge=0, le=10)
    base_delay_s: float = Field(default=0.2, ge=0, description="Doubles per retry, with jitter.")
    max_delay_s: float = Field(default=2.0, ge=0)


class CircuitConfig(Strict):
    """After `failures` failures in a row the upstream is skipped for `cooldown_s`."""

    failures: int = Field(default=5, ge=1)
    cooldown_s: float = Field(default=30, gt=0)


class UpstreamConfig(Strict):
    base_url: HttpUrl = Field(default=HttpUrl("https://api.openai.com/v1"))
    base_url_env: EnvName | None = Field(
        default=None, description="Env var that overrides base_url when it is set."
    )
    api_key_env: EnvName = "OPENAI_API_KEY"
    connect_timeout_s: float = Field(default=10, gt=0)
    read_timeout_s: float = Field(
        default=600, gt=0, description="Longest silence between two reads (covers slow streams)."
    )
    max_connections: int = Field(default=256, ge=1, le=65536)
    retries: RetryConfig = RetryConfig()
    circuit: CircuitConfig = CircuitConfig()


class ModelConfig(Strict):
    upstream: Name = "openai"
    upstream_model: str | None = Field(
        default=None, description="Name sent upstream, when it differs from the key."
    )
    context_window: int = Field(
        default=400_000,
        ge=1,
        description="Most input tokens a call can carry: the input side of a budget reservation.",
    )
    max_output_tokens: int | None = Field(
        default=None, ge=1, description="The model's own output limit; caps the tenants' caps."
    )


Usd = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=6)]
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


class WindowBudget(Strict):
    daily_usd: Usd | None = None
    monthly_usd: Usd | None = None


class Budgets(WindowBudget):
    """USD budgets per calendar day and month (in ``accounting.timezone``)."""

    mode: Literal["strict", "soft"] = Field(
        default="strict",
        description="strict: refuse calls whose cost bound does not fit; soft: admit and alert.",
    )
    models: dict[str, WindowBudget] = Field(
        default_factory=dict, description="Extra budgets for single models."
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
    prompt_cache_key: Literal["tenant", "off"] = Field(
        default="off",
        description="tenant: set prompt_cache_key to tenant:<name> when the client gave none "
        "(one cache routing key for the tenant's whole traffic); off: leave it to clients.",
    )


EscalationReason = Literal[
    "upstream_error",  # 5xx, connection failure, open circuit
    "timeout",
    "rate_limited",  # upstream 429
    "incomplete",  # stopped at the output cap
    "invalid_json",  # structured output that does not parse
    "schema_mismatch",  # structured output that does not match the request's schema
    "invalid_tool_arguments",  # a function call whose arguments do not match its schema
    "refusal",
]
ESCALATION_REASONS: tuple[str, ...] = get_args(EscalationReason)


class RuleMatch(Strict):
    """All given conditions must hold."""

    tenants: list[str] | None = None
    hint: str | None = Field(default=None, description="Value of the x-gateway-route header.")
    min_input_bytes: int | None = Field(default=None, ge=0)
    max_input_bytes: int | None = Field(default=None, ge=0)
    tools: bool | None = Field(default=None, description="Tools present (or absent).")
    structured_output: bool | None = None
    reasoning_effort: list[str] | None = None


class RouteRule(Strict):
    when: RuleMatch
    ladder: list[str] = Field(min_length=1)


class SplitArm(Strict):
    name: Name
    weight: int = Field(ge=0, le=100)
    ladder: list[str] = Field(min_length=1)


class RouteConfig(Strict):
    """An alias clients put in `model`: a ladder of models, small first."""

    ladder: list[str] = Field(min_length=1)
    escalate_on: list[EscalationReason] = Field(
        default=["upstream_error", "timeout", "rate_limited"]
    )
    rules: list[RouteRule] = Field(default_factory=list, description="First match wins.")
    split: list[SplitArm] = Field(
        default_factory=list, description="Weighted ladders (canaries); weights sum to 100."
    )
    also_for: list[str] = Field(
        default_factory=list, description="Models that, named directly, escalate on this route."
    )
    buffer_streams: bool = Field(
        default=False,
        description="Hold streams until complete so quality checks apply (short outputs only).",
    )
    retry_after_max_s: float = Field(
        default=2.0, ge=0, description="Wait out an upstream 429's Retry-After up to this long."
    )


class AccountingConfig(Strict):
    pricing_file: str = Field(
        default="pricing.yaml", description="Price table, relative to this config file."
    )
    timezone: str = Field(default="UTC", description="IANA zone of the budget day and month.")
    allow_unpriced: bool = Field(
        default=False,
        description="Serve models with no price (ledger: unpriced, cost 0) instead of refusing.",
    )


class ServerConfig(Strict):
    max_body_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    access_log: bool = True
    header_timeout_s: float = Field(
        default=10, gt=0, description="A request's headers must arrive within this (slowloris)."
    )
    max_header_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="A request line and headers larger than this get 431 and the connection "
        "is closed.",
    )
    body_timeout_s: float = Field(
        default=30, gt=0, description="A request's body must arrive within this: else 408."
    )
    drain_s: float = Field(
        default=5,
        ge=0,
        description="On SIGTERM: /readyz answers 503 for this long before the listener "
        "closes, so load balancers stop sending new requests first.",
    )
    shutdown_timeout_s: float = Field(
        default=90,
        gt=0,
        description="Then requests and streams in flight get this long to finish; Realtime "
        "sessions are told to reconnect (error event gateway_shutdown, close 1012).",
    )
    metrics_port: int = Field(
        default=9464,
        ge=0,
        le=65535,
        description="Prometheus /metrics on this port of its own (same host as the gateway), "
        "never on the public one; 0 turns it off. GATEWAY_METRICS_PORT overrides it.",
    )


class Revoked(Strict):
    """Tokens refused before they expire (hot-reloaded, unlike `auth`)."""

    token_ids: list[str] = Field(default_factory=list, description="`jti` claims refused.")
    subjects: list[str] = Field(
        default_factory=list, description="`sub` claims (services) whose tokens are refused."
    )


class GatewayConfig(Strict):
    auth: AuthConfig = AuthConfig()
    revoked: Revoked = Revoked()
    server: ServerConfig = ServerConfig()
    accounting: AccountingConfig = AccountingConfig()
    upstreams: dict[Name, UpstreamConfig] = Field(
        default_factory=lambda: {"openai": UpstreamConfig()}, min_length=1
    )
    models: dict[Name, ModelConfig] = Field(min_length=1)
    routes: dict[Name, RouteConfig] = Field(default_factory=dict)
    tenants: dict[Name, TenantPolicy] = Field(default_factory=dict)
    defaults: TenantPolicy | None = Field(
        default=None, description="Policy for tenants not listed; without it they get 403."
    )

    @model_validator(mode="after")
    def _references_resolve(self) -> GatewayConfig:
        for name, model in self.models.items():
            if model.upstream not in self.upstreams:
                raise ValueError(f"models.{name}.upstream: unknown upstream {model.upstream!r}")
        for name, route in self.routes.items():
            if name in self.models:
                raise ValueError(f"routes.{name}: a route cannot have a model's name")
            ladders = [("ladder", route.ladder)]
            ladders += [(f"rules.{i}.ladder", r.ladder) for i, r in enumerate(route.rules)]
            ladders += [(f"split.{i}.ladder", a.ladder) for i, a in enumerate(route.split)]
            ladders += [("also_for", route.also_for)]
            for where, ladder in ladders:
                for m in ladder:
                    if m not in self.models:
                        raise ValueError(f"routes.{name}.{where}: unknown model {m!r}")
            if route.split and sum(a.weight for a in route.split) != 100:
                raise ValueError(f"routes.{name}.split: weights must sum to 100")
        policies = [(f"tenants.{t}", p) for t, p in self.tenants.items()]
        if self.defaults is not None:
            policies.append(("defaults", self.defaults))
        for where, policy in policies:
            for m in policy.models:
                if m != "*" and m not in self.models and m not in self.routes:
                    raise ValueError(f"{where}.models: unknown model or route {m!r}")
            for m in [*policy.budgets.models, *policy.max_output_tokens_by_model]:
                if m not in self.models:
                    raise ValueError(f"{where}: unknown model {m!r}")
            for tool in policy.tools:
                if tool != "*" and tool not in HOSTED_TOOLS:
                    raise ValueError(f"{where}.tools: unknown hosted tool {tool!r}")
            for family in policy.endpoints:
                if family != "*" and family not in ENDPOINT_FAMILIES:
                    raise ValueError(f"{where}.endpoints: unknown endpoint family {family!r}")
        try:
            ZoneInfo(self.accounting.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"accounting.timezone: unknown time zone {self.accounting.timezone!r}"
            ) from None
        return self
