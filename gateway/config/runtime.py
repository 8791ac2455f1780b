"""The compiled, runtime form of the config: built once, read on every request.

Compiling resolves environment variables, model → upstream references and
tenant allow-lists into frozen lookups, so the hot path does dictionary reads
and set membership tests only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Literal

from gateway.config.alerts import Webhook, resolve_webhooks
from gateway.config.cache import CachePolicy
from gateway.config.functions import FunctionAllowList, compile_functions
from gateway.config.load import ConfigError, Problem, load_config
from gateway.config.model import (
    AccountingConfig,
    AuthConfig,
    GatewayConfig,
    RouteConfig,
    RuleMatch,
    ServerConfig,
)
from gateway.config.moderation import ModerationPolicy
from gateway.config.pii import PiiPolicy
from gateway.config.scopes import ServiceRules, compile_services, service_scope, tag_scope
from gateway.config.tenant import (
    FilesPolicy,
    ImagesPolicy,
    RealtimePolicy,
    TagsPolicy,
    TenantPolicy,
    WindowBudget,
)
from gateway.pricing.table import EMPTY as EMPTY_PRICES
from gateway.pricing.table import PriceTable, load_pricing


@dataclass(frozen=True, slots=True)
class Upstream:
    name: str
    base_url: str  # no trailing slash, e.g. https://api.openai.com/v1
    api_key: str | None
    connect_timeout_s: float
    read_timeout_s: float
    max_connections: int
    max_retries: int = 1
    retry_base_s: float = 0.2
    retry_max_s: float = 2.0
    circuit_failures: int = 5
    circuit_cooldown_s: float = 30.0


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    upstream: str
    upstream_model: str
    context_window: int = 400_000
    max_output_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    match: RuleMatch
    ladder: tuple[Model, ...]


@dataclass(frozen=True, slots=True)
class Arm:
    name: str
    upto: int  # cumulative weight: the arm serves split points below this
    ladder: tuple[Model, ...]


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    ladder: tuple[Model, ...]
    escalate_on: frozenset[str]
    rules: tuple[Rule, ...] = ()
    split: tuple[Arm, ...] = ()
    buffer_streams: bool = False
    retry_after_max_s: float = 2.0
    on_invalid_json: frozenset[str] = frozenset({"escalate"})
    chat_via_responses: bool = False  # Chat clients served through the Responses API
    shadow: Shadow | None = None  # a candidate ladder tried on a sample of the calls


@dataclass(frozen=True, slots=True)
class Shadow:
    """A route's shadow: its candidate ladder and the share of calls copied to it."""

    ladder: tuple[Model, ...]
    sample: float


@dataclass(frozen=True, slots=True)
class BudgetLimit:
    window: Literal["day", "month"]
    model: str | None  # None: the tenant's total, or the service's or tag's below
    nanos: int
    service: str | None = None  # a service's budget (every model)
    tag: str | None = None  # "key=value": the budget of the calls carrying that tag
    strict: bool | None = None  # a service's or tag's own mode; None: the tenant's mode

    def refuses(self, policy: Policy) -> bool:
        """Strict: a call whose bound does not fit is refused (soft: admitted, flagged)."""
        return policy.budget_mode == "strict" if self.strict is None else self.strict

    @property
    def scope(self) -> str | None:
        """The counter key's scope part (`gateway.config.scopes`)."""
        if self.service is not None:
            return service_scope(self.service)
        if self.tag is not None:
            return tag_scope(self.tag)
        return self.model


@dataclass(frozen=True, slots=True)
class Policy:
    enabled: bool
    allowed_models: frozenset[str]  # resolved: "*" expanded to every configured model
    rpm: int | None = None
    tpm: int | None = None
    concurrent: int | None = None
    budgets: tuple[BudgetLimit, ...] = ()
    budget_mode: Literal["strict", "soft"] = "strict"
    max_output_tokens: int | None = None  # None: no cap of the tenant's own
    max_output_tokens_by_model: Mapping[str, int] = field(default_factory=dict)
    output_cap_mode: Literal["clamp", "reject"] = "clamp"
    max_tool_calls: int = 8
    store: bool | None = None
    tools: frozenset[str] | None = None  # None: every hosted tool
    service_tiers: frozenset[str] | None = None  # None: every tier
    prompt_cache_key: bool = False
    realtime_sessions: int | None = None
    when_store_down: Literal["closed", "open"] = "closed"
    realtime: RealtimePolicy = field(default_factory=RealtimePolicy)
    endpoints: frozenset[str] | None = None  # endpoint families; None: every family
    files: FilesPolicy = field(default_factory=FilesPolicy)
    images: ImagesPolicy = field(default_factory=ImagesPolicy)
    tags: TagsPolicy = field(default_factory=TagsPolicy)  # cost-attribution tags allowed
    services: ServiceRules | None = None  # None: calls are not split into services
    cache: CachePolicy = field(default_factory=CachePolicy)  # the response cache's
    functions: FunctionAllowList | None = None  # function names a request may declare; None: any
    moderation: ModerationPolicy | None = None  # the input's pre-check; None: none
    pii: PiiPolicy = field(default_factory=PiiPolicy)  # redaction (`gateway.guardrails.pii`)

    def allows_model(self, model: str) -> bool:
        return model in self.allowed_models

    def output_cap(self, model: Model) -> int:
        """The most output a call may make: the tenant's cap, else the model's own limit
        (its context window when the config gives none)."""
        own = model.max_output_tokens or model.context_window
        cap = self.max_output_tokens_by_model.get(model.name, self.max_output_tokens)
        return own if cap is None else min(cap, own)

    def caps_output(self, model: Model) -> bool:
        """Whether the tenant sets a cap of its own on this model (else requests that set
        none go upstream as they came, and the model's limit bounds them)."""
        return model.name in self.max_output_tokens_by_model or self.max_output_tokens is not None


@dataclass(frozen=True)
class RuntimeConfig:
    source: GatewayConfig
    auth: AuthConfig
    server: ServerConfig
    accounting: AccountingConfig
    hs_secret: bytes | None
    upstreams: Mapping[str, Upstream]
    models: Mapping[str, Model]
    tenants: Mapping[str, Policy]
    defaults: Policy | None
    pricing: PriceTable = EMPTY_PRICES
    routes: Mapping[str, Route] = field(default_factory=dict)
    hs_previous_secret: bytes | None = None  # during a rotation: the secret before
    revoked_ids: frozenset[str] = frozenset()  # `jti`s refused
    revoked_subjects: frozenset[str] = frozenset()  # `sub`s refused
    routes_for_models: Mapping[str, Route] = field(default_factory=dict)  # `also_for`
    webhooks: Mapping[str, Webhook] = field(default_factory=dict)  # alerts', env resolved

    def policy_for(self, tenant: str) -> Policy | None:
        """The tenant's policy, the defaults for an unlisted tenant, or None (refused)."""
        return self.tenants.get(tenant, self.defaults)

    def missing_upstream_keys(self) -> list[str]:
        return [u.name for u in self.upstreams.values() if not u.api_key]


def compile_config(
    cfg: GatewayConfig,
    env: Mapping[str, str],
    *,
    pricing: PriceTable = EMPTY_PRICES,
    upstream_override: tuple[str, str] | None = None,
) -> RuntimeConfig:
    """Resolve ``cfg`` against ``env``.

    ``upstream_override`` (base URL, key) points every upstream that has no key
    at a stand-in server; the dev mode uses it for the built-in fake upstream.
    """
    upstreams = {}
    for name, u in cfg.upstreams.items():
        base = str(u.base_url)
        if u.base_url_env and env.get(u.base_url_env):
            base = env[u.base_url_env]
        key = env.get(u.api_key_env) or None
        if key is None and upstream_override is not None:
            base, key = upstream_override
        upstreams[name] = Upstream(
            name=name,
            base_url=base.rstrip("/"),
            api_key=key,
            connect_timeout_s=u.connect_timeout_s,
            read_timeout_s=u.read_timeout_s,
            max_connections=u.max_connections,
            max_retries=u.retries.max_retries,
            retry_base_s=u.retries.base_delay_s,
            retry_max_s=u.retries.max_delay_s,
            circuit_failures=u.circuit.failures,
            circuit_cooldown_s=u.circuit.cooldown_s,
        )
    models = {
        name: Model(
            name=name,
            upstream=m.upstream,
            upstream_model=m.upstream_model or name,
            context_window=m.context_window,
            max_output_tokens=m.max_output_tokens,
        )
        for name, m in cfg.models.items()
    }
    routes = {name: _compile_route(name, r, models) for name, r in cfg.routes.items()}
    names = frozenset(models) | frozenset(routes)
    return RuntimeConfig(
        source=cfg,
        auth=cfg.auth,
        server=cfg.server,
        accounting=cfg.accounting,
        hs_secret=hs_secret(cfg.auth, env),
        upstreams=upstreams,
        models=models,
        tenants={t: _compile_policy(p, names) for t, p in cfg.tenants.items()},
        defaults=_compile_policy(cfg.defaults, names) if cfg.defaults else None,
        # The price table carries the operator's rule for its gaps (unpriced hosted tools).
        pricing=replace(pricing, allow_unpriced=cfg.accounting.allow_unpriced),
        routes=routes,
        routes_for_models={m: routes[n] for n, r in cfg.routes.items() for m in r.also_for},
        hs_previous_secret=hs_previous_secret(cfg.auth, env),
        revoked_ids=frozenset(cfg.revoked.token_ids),
        revoked_subjects=frozenset(cfg.revoked.subjects),
        webhooks=resolve_webhooks(cfg.alerts, env),
    )


# RFC 7518 3.2: an HMAC key at least as long as the hash's output.
_HS_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}


def hs_secret(auth: AuthConfig, env: Mapping[str, str]) -> bytes | None:
    """The HS* secret from the environment, refused when short enough to brute-force.

    Anyone who recovers the secret from one token mints tokens for every tenant, and
    PyJWT only warns about a short key; so a secret shorter than the longest hash of
    the allowed HS* algorithms is a config error at start.
    """
    return _secret_in(auth.hs256_secret_env, "auth.hs256_secret_env", auth, env)


def hs_previous_secret(auth: AuthConfig, env: Mapping[str, str]) -> bytes | None:
    """During a rotation, the secret tokens were signed with before (the same rules)."""
    where = "auth.hs256_previous_secret_env"
    return _secret_in(auth.hs256_previous_secret_env, where, auth, env)


def _secret_in(
    name: str | None, where: str, auth: AuthConfig, env: Mapping[str, str]
) -> bytes | None:
    value = env.get(name) if name else None
    if not value:
        return None
    secret = value.encode()
    hs = [a for a in auth.algorithms if a in _HS_MIN_BYTES]
    need = max((_HS_MIN_BYTES[a] for a in hs), default=0)
    if len(secret) < need:
        alg = max(hs, key=_HS_MIN_BYTES.__getitem__)
        message = (
            f"{name} is {len(secret)} bytes; {alg} needs a secret of at least {need} bytes "
            f"(e.g. `openssl rand -base64 {need}`)"
        )
        raise ConfigError([Problem("environment", where, None, message)])
    return secret


def _compile_route(name: str, r: RouteConfig, models: Mapping[str, Model]) -> Route:
    def ladder(names: list[str]) -> tuple[Model, ...]:
        return tuple(models[n] for n in names)

    arms, upto = [], 0
    for arm in r.split:
        upto += arm.weight
        arms.append(Arm(arm.name, upto, ladder(arm.ladder)))
    return Route(
        name=name,
        ladder=ladder(r.ladder),
        escalate_on=frozenset(r.escalate_on),
        rules=tuple(Rule(rule.when, ladder(rule.ladder)) for rule in r.rules),
        split=tuple(arms),
        buffer_streams=r.buffer_streams,
        retry_after_max_s=r.retry_after_max_s,
        on_invalid_json=frozenset(r.on_invalid_json),
        chat_via_responses=r.chat_via_responses,
        shadow=Shadow(ladder(r.shadow.ladder), r.shadow.sample) if r.shadow else None,
    )


def load_files(path: str | Path) -> tuple[GatewayConfig, PriceTable]:
    """The config file and the price table it names (relative to the config file)."""
    cfg = load_config(path)
    return cfg, load_pricing(Path(path).parent / cfg.accounting.pricing_file)


def load_runtime(path: str | Path, env: Mapping[str, str]) -> RuntimeConfig:
    cfg, pricing = load_files(path)
    return compile_config(cfg, env, pricing=pricing)


def _compile_policy(p: TenantPolicy, names: frozenset[str]) -> Policy:
    allowed = names if "*" in p.models else frozenset(p.models)
    budgets = _budgets(p)
    return Policy(
        enabled=p.enabled,
        allowed_models=allowed,
        rpm=p.limits.rpm,
        tpm=p.limits.tpm,
        concurrent=p.limits.concurrent,
        budgets=tuple(budgets),
        budget_mode=p.budgets.mode,
        max_output_tokens=p.max_output_tokens,
        max_output_tokens_by_model=dict(p.max_output_tokens_by_model),
        output_cap_mode=p.output_cap_mode,
        max_tool_calls=p.max_tool_calls,
        store=p.store,
        tools=None if "*" in p.tools else frozenset(p.tools),
        service_tiers=None if "*" in p.service_tiers else frozenset(p.service_tiers),
        prompt_cache_key=p.prompt_cache_key == "tenant",
        realtime_sessions=p.limits.realtime_sessions,
        when_store_down=p.limits.when_store_down,
        realtime=p.realtime,
        endpoints=None if "*" in p.endpoints else frozenset(p.endpoints),
        files=p.files,
        images=p.images,
        tags=p.tags,
        services=compile_services(p.services),
        cache=p.cache,
        functions=compile_functions(p.functions),
        moderation=p.moderation,
        pii=p.pii,
    )


def _budgets(p: TenantPolicy) -> list[BudgetLimit]:
    """The tenant's budgets, its models', its services' and its tags', day then month each."""
    scopes: list[tuple[WindowBudget, dict[str, str], bool | None]] = [(p.budgets, {}, None)]
    scopes += [(b, {"model": m}, None) for m, b in p.budgets.models.items()]
    if p.services is not None:
        for name, s in p.services.known.items():
            scopes.append((s.budgets, {"service": name}, s.budgets.mode == "strict"))
    scopes += [(b, {"tag": pair}, b.mode == "strict") for pair, b in p.tags.budgets.items()]
    out: list[BudgetLimit] = []
    for b, where, strict in scopes:
        model, service, tag = where.get("model"), where.get("service"), where.get("tag")
        for window, usd in (("day", b.daily_usd), ("month", b.monthly_usd)):
            if usd is not None:
                nanos = usd_to_nanos(usd)
                out.append(BudgetLimit(window, model, nanos, service, tag, strict))  # type: ignore[arg-type]
    return out


def usd_to_nanos(usd: Decimal) -> int:
    return int(usd * 1_000_000_000)
