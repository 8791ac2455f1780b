"""Deprecated models in a call's plan: warned about, rewritten to their replacement, or refused.

Checked where the model is resolved (`gateway.pipeline.prepare.plan_call`), so
every endpoint family that takes a ``model`` gets the same treatment: the model
the client asked for first, then each rung of the ladder planned for it. The
notice of the model asked for wins (the client can act on it); else the first
deprecated rung's (the operator's route needs updating).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from email.utils import format_datetime

from gateway.config.deprecations import DeprecationAction, DeprecationConfig
from gateway.config.runtime import Model, RuntimeConfig
from gateway.errors import NotFound
from gateway.routing.plan import Plan

REWRITTEN_FROM = b"x-gateway-rewritten-from"


@dataclass(frozen=True, slots=True)
class Notice:
    """A deprecated model met by a call, and the action in force for it today."""

    model: str
    entry: DeprecationConfig
    action: DeprecationAction

    def headers(self) -> list[tuple[bytes, bytes]]:
        """RFC 9745 ``Deprecation`` (a structured-field date), RFC 8594 ``Sunset`` (an
        HTTP-date) and their links: both relations point at the announcement, which says
        what is deprecated and when it is shut down."""
        deprecated = _midnight(self.entry.deprecated_on)
        out = [
            (b"deprecation", f"@{int(deprecated.timestamp())}".encode()),
            (b"sunset", format_datetime(_midnight(self.entry.sunset), usegmt=True).encode()),
        ]
        if self.entry.link is not None:
            url = str(self.entry.link)
            link = f'<{url}>; rel="deprecation"; type="text/html", <{url}>; rel="sunset"'
            out.append((b"link", link.encode()))
        if self.action == "rewrite":
            out.append((REWRITTEN_FROM, self.model.encode()))
        return out


class ModelRetired(NotFound):
    """A deprecated model the gateway no longer serves: OpenAI's own answer to a retired
    model (404 ``model_not_found``), so SDKs raise ``NotFoundError`` as they would upstream."""

    def __init__(self, notice: Notice) -> None:
        entry = notice.entry
        instead = f" Use `{entry.replacement}` instead." if entry.replacement else ""
        see = f" See {entry.link}" if entry.link is not None else ""
        super().__init__(
            f"The model `{notice.model}` is deprecated (shut down on {entry.sunset}) and "
            f"this gateway no longer serves it.{instead}{see}",
            param="model",
            code="model_not_found",
            headers={k.decode(): v.decode() for k, v in notice.headers()},
        )
        self.notice = notice


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def entry_for(config: RuntimeConfig, name: str) -> tuple[str, DeprecationConfig] | None:
    """The entry for a model by the name clients use, else by the upstream's name for it."""
    deprecations = config.source.deprecations
    if name in deprecations:
        return name, deprecations[name]
    model = config.models.get(name)
    if model is not None and model.upstream_model in deprecations:
        return name, deprecations[model.upstream_model]
    return None


def notice_for(config: RuntimeConfig, name: str, on: dt.date) -> Notice | None:
    found = entry_for(config, name)
    if found is None:
        return None
    return Notice(found[0], found[1], found[1].action_on(on))


def requested(config: RuntimeConfig, name: str, on: dt.date) -> tuple[str, Notice | None]:
    """The model (or route) to plan for the one the client named, and its notice."""
    notice = notice_for(config, name, on)
    if notice is None:
        return name, None
    if notice.action == "refuse":
        raise ModelRetired(notice)
    if notice.action == "rewrite":
        assert notice.entry.replacement is not None  # the config's validation
        return notice.entry.replacement, notice
    return name, notice


def ladder(config: RuntimeConfig, planned: Plan, on: dt.date) -> tuple[Plan, Notice | None]:
    """The plan with deprecated rungs rewritten or dropped, and the first rung's notice."""
    rungs: list[Model] = []
    first = None
    for model in planned.ladder:
        notice = notice_for(config, model.name, on)
        first = first or notice
        if notice is not None and notice.action == "refuse":
            continue
        if notice is not None and notice.action == "rewrite":
            assert notice.entry.replacement is not None  # the config's validation
            model = config.models[notice.entry.replacement]
        if model not in rungs:  # a replacement already on the ladder serves once
            rungs.append(model)
    if first is None:
        return planned, None
    if not rungs:
        raise ModelRetired(first)
    if tuple(rungs) == planned.ladder:
        return planned, first
    return replace(planned, ladder=tuple(rungs), why=f"{planned.why}; deprecated rungs"), first


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
