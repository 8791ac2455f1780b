"""Bounded label values: a metric never gets one series per unlisted tenant or unknown model."""

from __future__ import annotations

from gateway.config.runtime import RuntimeConfig


def tenant_label(config: RuntimeConfig, tenant: str | None) -> str:
    """Tenants from the config by name; any other (served by ``defaults``) as one label."""
    if tenant is None:
        return "_none"
    return tenant if tenant in config.tenants else "_default"


def model_label(config: RuntimeConfig, model: str | None) -> str:
    """A configured model or route by name; anything else a client typed as ``_other``."""
    if not model:
        return "_none"
    return model if model in config.models or model in config.routes else "_other"
