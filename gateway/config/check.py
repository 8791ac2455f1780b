"""``gateway config check``: is this file usable, and what will the gateway make of it.

Operators hand it either file they edit: the gateway config, or the price file it
names (``accounting.pricing_file``). Each is checked as what it is, so a price
file is never told it lacks ``upstreams``. For a config, models without a price
are named with the key to add to the price file: prices are looked up by the
*upstream* model name (``models.X.upstream_model``), not the name clients use.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Mapping
from pathlib import Path

import yaml

from gateway.config.runtime import RuntimeConfig, load_runtime
from gateway.config.sunsets import sunset_warnings
from gateway.pricing import load_pricing
from gateway.routing import deprecation
from gateway.yamlfile import ConfigError

_CONFIG_KEYS = frozenset({"upstreams", "tenants", "auth", "routes", "server", "accounting"})
_PRICING_KEYS = frozenset({"as_of", "currency"})


def is_pricing_file(path: str) -> bool:
    """A price file by its name (``*pric*.yaml``) or by its keys (``as_of``, ``currency``,
    or ``version`` beside ``models``) with none of a gateway config's."""
    if "pric" in Path(path).stem.lower():
        return True
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False  # the config loader reports the problem, with its line
    if not isinstance(data, dict) or _CONFIG_KEYS & data.keys():
        return False
    return bool(_PRICING_KEYS & data.keys()) or {"version", "models"} <= data.keys()


def check_pricing(path: str) -> int:
    try:
        table = load_pricing(path)
    except ConfigError as exc:
        report_invalid(f"price file {path}", exc)
        return 1
    print(f"ok: {path} is a price file (version {table.version}, as of {table.as_of}; "
          f"{len(table.models)} models, {len(table.tools)} tools, "
          f"{len(table.tiers)} service tiers)")  # fmt: skip
    return 0


def check_config(path: str, env: Mapping[str, str], today: dt.date | None = None) -> int:
    try:
        runtime = load_runtime(path, env)
    except ConfigError as exc:
        report_invalid(f"config {path}", exc)
        return 1
    cfg = runtime.source
    print(f"ok: {path} ({len(cfg.tenants)} tenants, {len(cfg.models)} models, "
          f"{len(cfg.upstreams)} upstreams; prices {runtime.pricing.version})")  # fmt: skip
    for line in unpriced_warnings(runtime, Path(path).parent / cfg.accounting.pricing_file):
        print(line)
    for line in sunset_warnings(cfg, today or deprecation.today()):
        print(line)
    return 0


def unpriced_warnings(runtime: RuntimeConfig, pricing_path: Path) -> list[str]:
    """One warning per upstream model the price file lacks, naming the key to add."""
    missing: dict[str, list[str]] = {}
    for m in runtime.models.values():
        if runtime.pricing.price_for(m.upstream_model) is None:
            missing.setdefault(m.upstream_model, []).append(m.name)
    consequence = "served unpriced" if runtime.accounting.allow_unpriced else "refused"
    return [
        f"warning: no price for upstream model {key!r} (model {', '.join(map(repr, names))}): "
        f"calls are {consequence}; add `{key}:` under `models:` in {pricing_path} "
        "(prices are looked up by the upstream model name)"
        for key, names in missing.items()
    ]


def report_invalid(what: str, exc: ConfigError) -> None:
    """One problem on one line; several under a heading, one a line (stderr)."""
    if len(exc.problems) == 1:
        print(f"{what} is invalid: {exc.problems[0]}", file=sys.stderr)
        return
    print(f"{what} is invalid:", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
