"""A tenant's policy as the gateway applies it, for ``GET /admin/config``.

The config file leaves much to defaults and wildcards ("*", a missing ``limits:``);
an operator asking "what may this team do right now" wants the answer after those
are resolved: every allowed model by name, every limit and budget in force (null:
none), and each model's output cap after the tenant's and the model's own limits.
"""

from __future__ import annotations

from typing import Literal, TypedDict

from gateway.config.runtime import BudgetLimit, Policy, RuntimeConfig
from gateway.config.scopes import ScopeKind, ServiceRules, describe_scope
from gateway.ledger import nanos_to_usd


class LimitsView(TypedDict):
    rpm: int | None  # None: no limit
    tpm: int | None
    concurrent: int | None
    realtime_sessions: int | None
    when_store_down: Literal["closed", "open"]  # with a shared quota store that is down


class BudgetView(TypedDict):
    window: Literal["day", "month"]
    model: str | None  # a model's budget; None: the tenant's total, a service's or a tag's
    scope: ScopeKind
    name: str | None  # the model, service or "key=value" tag it is the budget of
    mode: Literal["strict", "soft"]
    limit_usd: str


class ServicesView(TypedDict):
    claim: str  # the token claim naming the service
    unlisted: Literal["group", "refuse"]  # group: counted as "other"
    names: list[str]
    limits: dict[str, dict[str, int | None]]  # services with rate or concurrency limits


class BudgetsView(TypedDict):
    mode: Literal["strict", "soft"]
    limits: list[BudgetView]


class OutputCapsView(TypedDict):
    mode: Literal["clamp", "reject"]
    tenant_max_output_tokens: int | None  # the tenant's own cap (None: none)
    by_model: dict[str, int]  # the cap in force per allowed model, the model's limit included


class RealtimeView(TypedDict):
    max_session_s: float
    idle_timeout_s: float
    single_use_secrets: bool
    over_budget: Literal["error", "close"]


class FilesView(TypedDict):
    max_bytes: int
    purposes: list[str]
    max_files: int | None


class TagsView(TypedDict):
    keys: list[str]  # tag keys a call may carry (another is refused: 400 invalid_tags)
    max_value_len: int
    from_metadata: bool  # the allow-listed keys of a body's `metadata` count too


class GuardrailsView(TypedDict):
    pii: dict[str, object]  # mode, entities, restore
    moderation: dict[str, object] | None  # model, categories, on_error; None: no pre-check
    functions: list[str] | None  # function names and globs a request may declare; None: any
    cache: dict[str, object]  # mode, ttl_s, max_entry_bytes


class TenantPolicyView(TypedDict):
    disabled: bool  # its tokens are refused (403 tenant_disabled)
    models: list[str]  # models and routes it may request, wildcards resolved
    endpoints: list[str] | None  # endpoint families; None: every family
    tools: list[str] | None  # hosted tools; None: every tool
    service_tiers: list[str] | None  # None: every tier
    limits: LimitsView
    budgets: BudgetsView
    services: ServicesView | None  # None: calls are not split into services
    output_caps: OutputCapsView
    max_tool_calls: int
    store: bool | None  # False: forced off upstream; None: left to clients
    prompt_cache_key: bool  # set to tenant:<name> when a client gives none
    realtime: RealtimeView
    files: FilesView
    images_max_per_request: int
    tags: TagsView
    guardrails: GuardrailsView


def policy_view(config: RuntimeConfig, policy: Policy) -> TenantPolicyView:
    caps = {
        name: policy.output_cap(config.models[name])
        for name in sorted(policy.allowed_models)
        if name in config.models
    }
    rt, files = policy.realtime, policy.files
    return {
        "disabled": not policy.enabled,
        "models": sorted(policy.allowed_models),
        "endpoints": _names(policy.endpoints),
        "tools": _names(policy.tools),
        "service_tiers": _names(policy.service_tiers),
        "limits": {
            "rpm": policy.rpm,
            "tpm": policy.tpm,
            "concurrent": policy.concurrent,
            "realtime_sessions": policy.realtime_sessions,
            "when_store_down": policy.when_store_down,
        },
        "budgets": {
            "mode": policy.budget_mode,
            "limits": [_budget(b, policy) for b in policy.budgets],
        },
        "services": _services(policy.services),
        "output_caps": {
            "mode": policy.output_cap_mode,
            "tenant_max_output_tokens": policy.max_output_tokens,
            "by_model": caps,
        },
        "max_tool_calls": policy.max_tool_calls,
        "store": policy.store,
        "prompt_cache_key": policy.prompt_cache_key,
        "realtime": {
            "max_session_s": rt.max_session_s,
            "idle_timeout_s": rt.idle_timeout_s,
            "single_use_secrets": rt.single_use_secrets,
            "over_budget": rt.over_budget,
        },
        "files": {
            "max_bytes": files.max_bytes,
            "purposes": list(files.purposes),
            "max_files": files.max_files,
        },
        "images_max_per_request": policy.images.max_per_request,
        "tags": {
            "keys": sorted(policy.tags.keys),
            "max_value_len": policy.tags.max_value_len,
            "from_metadata": policy.tags.from_metadata,
        },
        "guardrails": {
            "pii": policy.pii.model_dump(),
            "moderation": policy.moderation.model_dump() if policy.moderation else None,
            "functions": list(policy.functions.patterns) if policy.functions else None,
            "cache": policy.cache.model_dump(),
        },
    }


def _budget(b: BudgetLimit, policy: Policy) -> BudgetView:
    kind, name = describe_scope(b.scope)
    return {
        "window": b.window,
        "model": b.model,
        "scope": kind,
        "name": name,
        "mode": "strict" if b.refuses(policy) else "soft",
        "limit_usd": str(nanos_to_usd(b.nanos)),
    }


def _services(rules: ServiceRules | None) -> ServicesView | None:
    if rules is None:
        return None
    return {
        "claim": rules.claim,
        "unlisted": rules.unlisted,
        "names": sorted(rules.names),
        "limits": {name: limits.model_dump() for name, limits in sorted(rules.limits.items())},
    }


def _names(names: frozenset[str] | None) -> list[str] | None:
    return None if names is None else sorted(names)
