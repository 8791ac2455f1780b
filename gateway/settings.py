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
    log_format: str = "auto"  # json, text, or auto: text on a terminal, JSON otherwise
    redis_url: str | None = None  # shared limits and budgets; None: this process alone
    redis_alive_s: float = 10.0  # a replica silent this long is dead: its holds are reclaimed
    metrics_port: int | None = None  # None: the config's server.metrics_port; 0: no listener
    forecast_interval_s: float = 60.0  # live spend forecasts' refresh; 0: none

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Raises ValueError naming the variable whose value is not a number."""
        return cls(
            config_path=env.get("GATEWAY_CONFIG", cls.config_path),
            database_url=env.get("GATEWAY_DATABASE_URL", cls.database_url),
            host=env.get("GATEWAY_HOST", cls.host),
            port=int(_number(env, "GATEWAY_PORT", cls.port)),
            log_level=env.get("GATEWAY_LOG_LEVEL", cls.log_level).lower(),
            log_format=_log_format(env),
            redis_url=env.get("GATEWAY_REDIS_URL") or None,
            redis_alive_s=_number(env, "GATEWAY_REDIS_ALIVE_S", cls.redis_alive_s),
            metrics_port=_metrics_port(env),
            forecast_interval_s=_number(env, "GATEWAY_FORECAST_INTERVAL_S", 60.0),
        )


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text) if text.isdigit() else float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number") from None


def _metrics_port(env: Mapping[str, str]) -> int | None:
    """``GATEWAY_METRICS_PORT``: a port, ``off`` (or 0) for none, unset for the config's."""
    text = env.get("GATEWAY_METRICS_PORT", "").strip().lower()
    if not text:
        return None
    if text == "off":
        return 0
    if not text.isdigit() or int(text) > 65535:
        raise ValueError(f"GATEWAY_METRICS_PORT={text!r} is not a port (or off)")
    return int(text)


def _log_format(env: Mapping[str, str]) -> str:
    text = env.get("GATEWAY_LOG_FORMAT", "").strip().lower() or "auto"
    if text not in ("auto", "json", "text"):
        raise ValueError(f"GATEWAY_LOG_FORMAT={text!r} is not json, text or auto")
    return text
