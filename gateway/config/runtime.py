"""The compiled, runtime form of the config: built once, read on every request.

Compiling resolves environment variables, model → upstream references and
tenant allow-lists into frozen lookups, so the hot path does dictionary reads
and set membership tests only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.config.model import AuthConfig, GatewayConfig, ServerConfig, TenantPolicy


@dataclass(frozen=True, slots=True)
class Upstream:
    name: str
    base_url: str  # no trailing slash, e.g. https://api.openai.com/v1
    api_key: str | None
    connect_timeout_s: float
    read_timeout_s: float
    max_connections: int


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    upstream: str
    upstream_model: str


@dataclass(frozen=True, slots=True)
class Policy:
    enabled: bool
    allowed_models: frozenset[str]  # resolved: "*" expanded to every configured model

    def allows_model(self, model: str) -> bool:
        return model in self.allowed_models


@dataclass(frozen=True)
class RuntimeConfig:
    source: GatewayConfig
    auth: AuthConfig
    server: ServerConfig
    hs_secret: bytes | None
    upstreams: Mapping[str, Upstream]
    models: Mapping[str, Model]
    tenants: Mapping[str, Policy]
    defaults: Policy | None

    def policy_for(self, tenant: str) -> Policy | None:
        """The tenant's policy, the defaults for an unlisted tenant, or None (refused)."""
        return self.tenants.get(tenant, self.defaults)

    def missing_upstream_keys(self) -> list[str]:
        return [u.name for u in self.upstreams.values() if not u.api_key]


def compile_config(
    cfg: GatewayConfig,
    env: Mapping[str, str],
    *,
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
        )
    models = {
        name: Model(name=name, upstream=m.upstream, upstream_model=m.upstream_model or name)
        for name, m in cfg.models.items()
    }
    secret_env = cfg.auth.hs256_secret_env
    secret = env.get(secret_env) if secret_env else None
    return RuntimeConfig(
        source=cfg,
        auth=cfg.auth,
        server=cfg.server,
        hs_secret=secret.encode() if secret else None,
        upstreams=upstreams,
        models=models,
        tenants={t: _compile_policy(p, models) for t, p in cfg.tenants.items()},
        defaults=_compile_policy(cfg.defaults, models) if cfg.defaults else None,
    )


def _compile_policy(p: TenantPolicy, models: Mapping[str, Model]) -> Policy:
    allowed = frozenset(models) if "*" in p.models else frozenset(p.models)
    return Policy(enabled=p.enabled, allowed_models=allowed)
