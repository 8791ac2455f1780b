"""The one line a gateway logs as it starts: what it runs with, secrets left out.

An operator reading a pod's first log lines should see which config, upstreams,
database and quota store this replica uses without exec-ing into it; the same
facts as JSON fields for a collector. Passwords in URLs are masked.
"""

from __future__ import annotations

import re

from gateway.config.runtime import RuntimeConfig
from gateway.settings import Settings

_PASSWORD = re.compile(r"(://[^:/@]*:)[^@/]*@")


def masked(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    return _PASSWORD.sub(r"\1***@", url)


def startup_fields(
    settings: Settings, runtime: RuntimeConfig, metrics_port: int
) -> dict[str, object]:
    database = masked(settings.database_url)
    return {
        "config": settings.config_path,
        "upstreams": {name: u.base_url for name, u in runtime.upstreams.items()},
        "tenants": len(runtime.tenants),
        "defaults": runtime.defaults is not None,  # whether unlisted tenants are served
        "database": database.split(":", 1)[0].split("+", 1)[0],
        "database_url": database,
        "quota": "redis" if settings.redis_url else "memory",
        "quota_url": masked(settings.redis_url) if settings.redis_url else None,
        "metrics_port": metrics_port or None,  # None: no metrics listener
    }


def startup_line(fields: dict[str, object]) -> str:
    """The fields as ``key=value`` text, for the text log format."""
    upstreams = fields["upstreams"]
    shown = {
        **fields,
        "upstreams": ",".join(f"{k}={v}" for k, v in upstreams.items())
        if isinstance(upstreams, dict)
        else upstreams,
    }
    return " ".join(f"{k}={v}" for k, v in shown.items() if v is not None)
