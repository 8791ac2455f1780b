"""Shadow traffic's config: a route's candidate (`routes.X.shadow`) and who pays (`shadow:`).

A shadow call is the platform team's experiment, not the client's call: by
default it is charged to a tenant the team sets aside for it (its budgets,
limits and ledger rows), so a tenant's own budget never pays for a migration
trial unless the config says so (``charge_to: caller``).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from gateway.config.base import Strict

CALLER = "caller"  # charge_to: the calling tenant's own budgets and limits


class RouteShadow(Strict):
    """A candidate ladder tried on a sample of a route's calls, after the client has its answer."""

    ladder: list[str] = Field(min_length=1, description="The candidate models, small first.")
    sample: float = Field(
        gt=0, le=1, description="The share of the route's calls copied to the candidate."
    )


class ShadowConfig(Strict):
    """Who pays for shadow calls, and how many may run at once."""

    charge_to: str | None = Field(
        default=None,
        description="The tenant whose budgets, limits and ledger rows shadow calls use (it "
        f"needs a daily or monthly budget), or `{CALLER}`: the calling tenant's own. Required "
        "once a route has a shadow.",
    )
    max_in_flight: int = Field(
        default=4,
        ge=1,
        le=256,
        description="Shadow calls running at once on one replica; a sampled call that finds "
        "them all busy is skipped (real traffic is never queued behind shadows).",
    )
    max_compared_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Answers larger than this (the client's or the shadow's) are not compared.",
    )


def shadow_problems(
    shadow: ShadowConfig,
    routes: Mapping[str, RouteShadow | None],
    models: Mapping[str, object],
    budgeted: Mapping[str, bool],
) -> list[str]:
    """What is wrong with the routes' shadows and the account paying for them.

    ``budgeted`` maps each configured tenant to whether it has a budget of its own."""
    problems = []
    shadowed = {name: s for name, s in routes.items() if s is not None}
    for name, s in shadowed.items():
        problems += [
            f"routes.{name}.shadow.ladder: unknown model {m!r}" for m in s.ladder if m not in models
        ]
    if not shadowed:
        return problems
    account = shadow.charge_to
    if account is None:
        where = ", ".join(f"routes.{n}" for n in shadowed)
        problems.append(
            f"shadow.charge_to: {where} shadow calls; name the tenant that pays for them "
            f"(or `{CALLER}`)"
        )
    elif account != CALLER and account not in budgeted:
        problems.append(f"shadow.charge_to: unknown tenant {account!r}")
    elif account != CALLER and not budgeted[account]:
        problems.append(
            f"shadow.charge_to: tenant {account!r} has no daily or monthly budget: shadow "
            "calls would have no bound"
        )
    return problems
