"""Process settings from the environment, read once at start-up.

Everything about tenants and upstreams is in the config file; this holds only
what differs per process or deployment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    config_path: str = "config/gateway.yaml"
    database_url: str = "sqlite:///gateway.db"
    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "info"
    redis_url: str | None = None  # shared limits and budgets; None: this process alone
    redis_alive_s: float = 10.0  # a replica silent this long is dead: its holds are reclaimed

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            config_path=env.get("GATEWAY_CONFIG", cls.config_path),
            database_url=env.get("GATEWAY_DATABASE_URL", cls.database_url),
            host=env.get("GATEWAY_HOST", cls.host),
            port=int(env.get("GATEWAY_PORT", cls.port)),
            log_level=env.get("GATEWAY_LOG_LEVEL", cls.log_level).lower(),
            redis_url=env.get("GATEWAY_REDIS_URL") or None,
            redis_alive_s=float(env.get("GATEWAY_REDIS_ALIVE_S", cls.redis_alive_s)),
        )
