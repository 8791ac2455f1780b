"""The ``alerts:`` section: webhooks told before a budget refuses, and when.

Part of the config's typed shape (`gateway.config.model`); a tenant's own choice
(``tenants.X.alerts``) is `TenantAlerts`. Webhook URLs and signing secrets can be
secrets (a Slack incoming-webhook URL is one), so both can come from environment
variables; `resolve_webhooks` reads them once, when the config is compiled, and a
missing one is a config error (``gateway config check`` names it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, HttpUrl, model_validator

from gateway.config.base import EnvName, Name, Strict
from gateway.yamlfile import ConfigError, Problem

Percent = int  # of a budget's limit; above 100 for soft budgets that run past their limit


class WebhookConfig(Strict):
    """One receiver of notifications."""

    url: HttpUrl | None = Field(default=None, description="Where notifications are POSTed.")
    url_env: EnvName | None = Field(
        default=None,
        description="Env var holding the URL instead (a Slack webhook URL is a secret).",
    )
    format: Literal["slack", "json"] = Field(
        default="json",
        description='slack: a Slack-compatible {"text": ...} body; json: the event as JSON, '
        "signed with HMAC-SHA256 (X-Gateway-Signature).",
    )
    secret_env: EnvName | None = Field(
        default=None, description="json: env var holding the HMAC signing secret (required)."
    )
    timeout_s: float = Field(default=5, gt=0, le=60, description="Per attempt.")

    @model_validator(mode="after")
    def _one_url_and_a_secret(self) -> WebhookConfig:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("set exactly one of url and url_env")
        if self.format == "json" and self.secret_env is None:
            raise ValueError("a json webhook is signed: set secret_env")
        return self


class DeliveryConfig(Strict):
    """Retries of one notification to one webhook, within one claim (`AlertsConfig.lease_s`)."""

    attempts: int = Field(default=5, ge=1, le=20)
    base_delay_s: float = Field(default=1, ge=0, description="Doubles after each failure.")
    max_delay_s: float = Field(default=30, ge=0)


class AlertsConfig(Strict):
    """Notifications before a budget runs out; evaluated off the request path on every replica,
    each one sent by one replica only (claimed in Redis when ``GATEWAY_REDIS_URL`` is set)."""

    enabled: bool = True
    webhooks: dict[Name, WebhookConfig] = Field(default_factory=dict)
    default_webhooks: list[Name] | None = Field(
        default=None, description="Webhooks of tenants that name none (null: every webhook)."
    )
    thresholds: list[Percent] = Field(
        default=[50, 80, 100],
        description="Percent of a budget's day or month spent that sends a notification, once "
        "per threshold per window.",
    )
    interval_s: float = Field(default=60, gt=0, description="How often budgets are read.")
    lease_s: float = Field(
        default=120,
        gt=0,
        description="A replica's claim on a notification; if it dies before delivering, "
        "another replica sends it after this.",
    )
    forecast: bool = Field(
        default=True, description="Notify when a budget is projected to run out before its window."
    )
    anomaly_score: float | None = Field(
        default=4.0,
        gt=0,
        description="Notify when an hour's spend scores at least this (null: off).",
    )
    delivery: DeliveryConfig = DeliveryConfig()

    @model_validator(mode="after")
    def _sane(self) -> AlertsConfig:
        if any(not 1 <= t <= 1000 for t in self.thresholds):
            raise ValueError("thresholds: percents from 1 to 1000")
        slowest = max((w.timeout_s for w in self.webhooks.values()), default=0.0)
        if self.lease_s < 2 * slowest:  # else one attempt could outlive the claim
            raise ValueError(f"lease_s must be at least twice the longest timeout_s ({slowest})")
        return self


class TenantAlerts(Strict):
    """A tenant's own alert settings (``tenants.X.alerts``, or ``defaults.alerts``)."""

    enabled: bool = True
    webhooks: list[Name] | None = Field(
        default=None, description="Webhooks told about this tenant (null: alerts.default_webhooks)."
    )
    thresholds: list[Percent] | None = Field(
        default=None, description="Percents of its budgets (null: alerts.thresholds)."
    )

    @model_validator(mode="after")
    def _sane(self) -> TenantAlerts:
        if self.thresholds is not None and any(not 1 <= t <= 1000 for t in self.thresholds):
            raise ValueError("thresholds: percents from 1 to 1000")
        return self


def unknown_webhooks(alerts: AlertsConfig, tenants: Mapping[str, TenantAlerts | None]) -> list[str]:
    """Each reference to a webhook ``alerts.webhooks`` does not define, as ``where: message``."""
    problems = [
        f"alerts.default_webhooks: unknown webhook {name!r}"
        for name in alerts.default_webhooks or ()
        if name not in alerts.webhooks
    ]
    for where, own in tenants.items():
        for name in (own.webhooks or ()) if own is not None else ():
            if name not in alerts.webhooks:
                known = ", ".join(alerts.webhooks) or "none defined"
                problems.append(f"{where}.alerts.webhooks: unknown webhook {name!r} ({known})")
    return problems


@dataclass(frozen=True, slots=True)
class Webhook:
    """A webhook with its URL and secret read from the environment."""

    name: str
    url: str
    format: Literal["slack", "json"]
    secret: bytes | None
    timeout_s: float

    @property
    def safe_url(self) -> str:
        """For logs: scheme and host only (Slack keeps its secret in the path, others in the
        query string)."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


def resolve_webhooks(alerts: AlertsConfig, env: Mapping[str, str]) -> dict[str, Webhook]:
    """Every webhook with its environment read; a variable that is not set is a config error."""
    problems: list[Problem] = []
    out: dict[str, Webhook] = {}
    for name, w in alerts.webhooks.items():
        where = f"alerts.webhooks.{name}"
        url = str(w.url) if w.url is not None else env.get(w.url_env or "", "")
        secret = env.get(w.secret_env, "") if w.secret_env else None
        if not url:
            message = f"environment variable {w.url_env} (the webhook's URL) is not set"
            problems.append(Problem("environment", f"{where}.url_env", None, message))
        if secret == "":
            message = f"environment variable {w.secret_env} (the signing secret) is not set"
            problems.append(Problem("environment", f"{where}.secret_env", None, message))
        out[name] = Webhook(name, url, w.format, secret.encode() if secret else None, w.timeout_s)
    if problems:
        raise ConfigError(problems)
    return out
