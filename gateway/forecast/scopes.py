"""Which scopes of a tenant get a forecast, and each one's hourly spend.

Bounded on purpose, since each scope becomes gauge series and a model fit per
refresh: the tenant's total, its services (listed ones plus ``other``: bounded
by the config), the tags that have a budget, and the `MAX_TAG_SCOPES` other
``key=value`` pairs spent the most on (tag values are bounded in length, not in
number).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from gateway.config.scopes import TAG_SCOPE, service_scope, tag_scope
from gateway.ledger.hourly import Hourly, SpendKey

MAX_TAG_SCOPES = 20


def tag_pairs(tags: str | None) -> list[str]:
    """The ``key=value`` pairs of a ledger row's canonical tags text."""
    return [pair for pair in tags.split(",") if pair] if tags else []


def scope_history(
    spend: Mapping[SpendKey, Mapping[datetime, int]],
    budgeted: Collection[str],
    max_tags: int = MAX_TAG_SCOPES,
) -> dict[str | None, Hourly]:
    """Hourly spend of each scope of one tenant's `spend`: None (the total), every
    service seen, every budgeted scope (even without spend yet) and the top tags."""
    tag_totals: dict[str, int] = {}
    for (_, _, tags), hours in spend.items():
        total = sum(hours.values())
        for pair in tag_pairs(tags):
            tag_totals[pair] = tag_totals.get(pair, 0) + total
    budgeted_tags = {s.removeprefix(TAG_SCOPE) for s in budgeted if s.startswith(TAG_SCOPE)}
    others = (p for p in tag_totals if p not in budgeted_tags)
    top = sorted(others, key=lambda p: (-tag_totals[p], p))
    tags_shown = budgeted_tags | set(top[:max_tags])
    out: dict[str | None, Hourly] = {None: {}}
    for scope in budgeted:
        out.setdefault(scope, {})
    for (_, service, tags), hours in spend.items():
        targets = [out[None]]
        if service is not None:
            targets.append(out.setdefault(service_scope(service), {}))
        targets += [out.setdefault(tag_scope(p), {}) for p in tag_pairs(tags) if p in tags_shown]
        for target in targets:
            for hour, nanos in hours.items():
                target[hour] = target.get(hour, 0) + nanos
    return out
