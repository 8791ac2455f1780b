"""The config file's typed shape: what platform teams write in ``config/gateway.yaml``.

These models are the single source of truth: the loader validates against them
and ``config/gateway.schema.json`` is generated from them. Secrets never live
here; fields ending in ``_env`` name environment variables. A tenant's policy has its own
module (`gateway.config.tenant`), the shared building blocks theirs (`gateway.config.base`).
"""

from __future__ import annotations

from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, HttpUrl, model_validator

from gateway.config.alerts import AlertsConfig, unknown_webhooks
from gateway.config.base import EnvName, Name, Strict
from gateway.config.cache import ResponseCacheConfig
from gateway.config.deprecations import DeprecationConfig, deprecation_problems
from gateway.config.shadow import RouteShadow, ShadowConfig, shadow_problems
from gateway.config.tenant import ENDPOINT_FAMILIES, HOSTED_TOOLS, TenantPolicy

HS_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
Algorithm = Literal[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "EdDSA",
]  # fmt: skip


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
    max_token_ttl_s: float = Field(
        default=86400,
        gt=0,
        description="`gateway token` warns when asked for a longer lifetime (a token cannot "
        "be taken back before it expires except by the `revoked` list).",
    )

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
JsonRemedy = Literal["repair", "escalate"]


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
    on_invalid_json: list[JsonRemedy] = Field(
        default=["escalate"],
        description="Structured output that does not parse or match its schema: `repair` asks "
        "the same model once more with its answer and the error; `escalate` leaves it to "
        "`escalate_on` (without it, such answers never escalate).",
    )
    chat_via_responses: bool = Field(
        default=False,
        description="Serve /v1/chat/completions clients through the upstream Responses API "
        "(translated both ways; what cannot be translated faithfully is refused).",
    )
    shadow: RouteShadow | None = Field(
        default=None,
        description="A candidate ladder tried on a sample of this route's calls after the "
        "client has its answer (non-streaming), compared with it, charged as `shadow:` says.",
    )

    @model_validator(mode="after")
    def _remedies_in_order(self) -> RouteConfig:
        if self.chat_via_responses and "repair" in self.on_invalid_json:
            raise ValueError("on_invalid_json: repair is not available with chat_via_responses")
        if len(set(self.on_invalid_json)) != len(self.on_invalid_json):
            raise ValueError("on_invalid_json: each remedy at most once")
        if self.on_invalid_json == ["escalate", "repair"]:
            raise ValueError("on_invalid_json: repair comes before escalate")
        return self


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
    alerts: AlertsConfig = AlertsConfig()
    response_cache: ResponseCacheConfig = ResponseCacheConfig()
    deprecations: dict[str, DeprecationConfig] = Field(default_factory=dict)
    shadow: ShadowConfig = ShadowConfig()

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
            if policy.moderation is not None and policy.moderation.model not in self.models:
                raise ValueError(f"{where}.moderation.model: unknown model")
            for tool in policy.tools:
                if tool != "*" and tool not in HOSTED_TOOLS:
                    raise ValueError(f"{where}.tools: unknown hosted tool {tool!r}")
            for family in policy.endpoints:
                if family != "*" and family not in ENDPOINT_FAMILIES:
                    raise ValueError(f"{where}.endpoints: unknown endpoint family {family!r}")
        unknown = unknown_webhooks(self.alerts, {where: p.alerts for where, p in policies})
        unknown += deprecation_problems(self.deprecations, self.models)
        budgeted = {
            t: p.budgets.daily_usd is not None or p.budgets.monthly_usd is not None
            for t, p in self.tenants.items()
        }
        shadows = {name: r.shadow for name, r in self.routes.items()}
        unknown += shadow_problems(self.shadow, shadows, self.models, budgeted)
        if unknown:
            raise ValueError("; ".join(unknown))
        try:
            ZoneInfo(self.accounting.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"accounting.timezone: unknown time zone {self.accounting.timezone!r}"
            ) from None
        return self
