"""Deprecated models in a call's plan: warned about, rewritten to their replacement, or refused.

Checked where the model is resolved (`gateway.pipeline.prepare.plan_call`), so
every endpoint family that takes a ``model`` gets the same treatment: the model
the client asked for first, then each rung of the ladder planned for it. The
notice of the model asked for wins (the client can act on it); else the first
deprecated rung's (the operator's route needs updating). A model named in stored
content (a batch's input file) cannot be rewritten: `stored` refuses it instead.

Every judgement takes the day it is made for; the gateway's callers ask `today`,
the one place the real date is read (tests replace it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from email.utils import format_datetime

from gateway.config.deprecations import DeprecationAction, DeprecationConfig
from gateway.config.runtime import Model, RuntimeConfig
from gateway.errors import BadRequest, NotFound
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

    def header_map(self) -> dict[str, str]:
        """`headers` as an error answer carries them."""
        return {k.decode(): v.decode() for k, v in self.headers()}


class ModelRetired(NotFound):
    """A deprecated model the gateway no longer serves: OpenAI's own answer to a retired
    model (404 ``model_not_found``), so SDKs raise ``NotFoundError`` as they would upstream."""

    def __init__(self, notice: Notice, *, param: str = "model", named_in: str = "") -> None:
        entry = notice.entry
        instead = f" Use `{entry.replacement}` instead." if entry.replacement else ""
        see = f" See {entry.link}" if entry.link is not None else ""
        super().__init__(
            f"The model `{notice.model}`{named_in} is deprecated (shut down on {entry.sunset}) "
            f"and this gateway no longer serves it.{instead}{see}",
            param=param,
            code="model_not_found",
            headers=notice.header_map(),
        )
        self.notice = notice


class NotRewritable(BadRequest):
    """A model the gateway rewrites, named where it cannot be rewritten faithfully (stored
    content goes upstream as written): refused, naming the replacement to use instead."""

    def __init__(self, notice: Notice, *, param: str, named_in: str) -> None:
        entry = notice.entry
        super().__init__(
            f"The model `{notice.model}`{named_in} is deprecated (shut down on {entry.sunset}) "
            f"and this gateway serves `{entry.replacement}` in its place, but it cannot change "
            f"what is stored: name `{entry.replacement}` instead.",
            param=param,
            code="model_deprecated",
            headers=notice.header_map(),
        )
        self.notice = notice


REFUSED = (ModelRetired, NotRewritable)  # the refusals, each with the notice to count


def today() -> dt.date:
    """The day deprecations are judged on: the real (UTC) date."""
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


def rewritten_to(config: RuntimeConfig, name: str, on: dt.date) -> str | None:
    """The model served in place of ``name`` on ``on``, if it is rewritten."""
    notice = notice_for(config, name, on)
    return notice.entry.replacement if notice is not None and notice.action == "rewrite" else None


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


def stored(
    config: RuntimeConfig,
    name: str,
    on: dt.date,
    *,
    param: str = "input_file_id",
    named_in: str = " (in the input file)",
) -> Notice | None:
    """The notice for a model named in stored content (a batch's input file), which goes
    upstream as written: warned about, else refused (a rewrite too, naming its replacement)."""
    notice = notice_for(config, name, on)
    if notice is None or notice.action == "warn":
        return notice
    refused = replace(notice, action="refuse")
    if notice.action == "refuse":
        raise ModelRetired(refused, param=param, named_in=named_in)
    raise NotRewritable(refused, param=param, named_in=named_in)


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
