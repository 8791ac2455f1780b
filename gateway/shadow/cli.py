"""``gateway shadow report --route R``: how a route's shadow compares, from the database."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.config import ConfigError, load_runtime
from gateway.launch import report_config_error
from gateway.settings import Settings


def add_parser(sub: Any) -> None:
    p = sub.add_parser("shadow", help="shadow traffic: how a route's candidate compares")
    shadow_sub = p.add_subparsers(dest="shadow_command", required=True)
    report = shadow_sub.add_parser(
        "report", help="per model pair: success, JSON validity, refusals, cost, latency, "
        "output and similarity of the shadow against the client's answers",
    )  # fmt: skip
    report.add_argument("--route", required=True, help="the shadowed route")
    report.add_argument(
        "--since", default="7d", metavar="WHEN",
        help="YYYY-MM-DD, an ISO date-time, today, yesterday, month or Nd (default: 7d)",
    )  # fmt: skip
    report.add_argument(
        "--format", choices=("table", "json"), default="table", help="table (default) or json"
    )
    report.add_argument("--config", help="the gateway config (default: GATEWAY_CONFIG)")


def command(args: argparse.Namespace, settings: Settings) -> int:
    path = args.config or settings.config_path
    try:
        runtime = load_runtime(path, os.environ)
    except ConfigError as exc:
        report_config_error(path, exc)
        return 1
    if args.route not in runtime.routes:  # pairs of a route since removed are still there
        print(f"note: route {args.route!r} is not in {path}", file=sys.stderr)
    return run(args, settings.database_url, runtime.accounting.timezone)


def run(
    args: argparse.Namespace, database_url: str, timezone: str, now: datetime | None = None
) -> int:
    """Exit 0 with the report; 2 for a bad window or a missing SQLite file."""
    from gateway.api.usage import parse_when
    from gateway.db import make_engine, sqlite_file_missing
    from gateway.errors import GatewayError
    from gateway.shadow.report import as_json, render, summarize
    from gateway.shadow.store import pairs

    try:
        since = parse_when(args.since, ZoneInfo(timezone), "--since", now)
    except GatewayError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    missing = sqlite_file_missing(database_url)
    if missing is not None:
        print(f"gateway shadow report: no database at {missing} (set GATEWAY_DATABASE_URL)",
              file=sys.stderr)  # fmt: skip
        return 2
    engine = make_engine(database_url)
    try:
        summaries = summarize(pairs(engine, args.route, since))
    finally:
        engine.dispose()
    if args.format == "json":
        print(json.dumps(as_json(args.route, summaries), indent=2))
    else:
        sys.stdout.write(render(args.route, summaries))
    return 0
