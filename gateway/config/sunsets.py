"""``gateway config check``'s deprecation warnings: the config still leans on a retired model.

A route rung, a ``also_for`` model, a shadow's rung, or a model a tenant (or the defaults) lists by
name is past its sunset: calls that reach it will fail upstream (or be rewritten or
refused, as its entry says). A ``*`` allow-list names no model, so it is not warned
about. ``today`` is injected: a check is reproducible for any day.
"""

from __future__ import annotations

import datetime as dt

from gateway.config.model import GatewayConfig


def sunset_warnings(cfg: GatewayConfig, today: dt.date) -> list[str]:
    """One warning per place a model past its sunset is named."""
    out = []
    for where, names in _uses(cfg):
        for name in names:
            entry = cfg.deprecations.get(name)
            upstream = cfg.models[name].upstream_model if name in cfg.models else None
            if entry is None and upstream is not None:
                entry = cfg.deprecations.get(upstream)
            if entry is None or entry.sunset > today:
                continue
            instead = f"; move to {entry.replacement!r}" if entry.replacement else ""
            out.append(
                f"warning: {where} names model {name!r}, past its sunset ({entry.sunset}; "
                f"deprecations action {entry.action_on(today)}){instead}"
            )
    return out


def _uses(cfg: GatewayConfig) -> list[tuple[str, list[str]]]:
    uses: list[tuple[str, list[str]]] = []
    for name, route in cfg.routes.items():
        uses.append((f"routes.{name}.ladder", route.ladder))
        uses += [(f"routes.{name}.rules.{i}.ladder", r.ladder) for i, r in enumerate(route.rules)]
        uses += [(f"routes.{name}.split.{a.name}.ladder", a.ladder) for a in route.split]
        uses.append((f"routes.{name}.also_for", route.also_for))
        if route.shadow is not None:  # a candidate past its sunset is no candidate
            uses.append((f"routes.{name}.shadow.ladder", route.shadow.ladder))
    policies = [(f"tenants.{t}", p) for t, p in cfg.tenants.items()]
    if cfg.defaults is not None:
        policies.append(("defaults", cfg.defaults))
    uses += [(f"{where}.models", [m for m in p.models if m in cfg.models]) for where, p in policies]
    return uses
