"""The ``gateway`` command: serve, demo, token, usage, route explain, config and db tools.

An operator's mistake (a bad flag, a missing setting, an unreachable database) is
told in one line on stderr with a non-zero exit, never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import date
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from gateway.config import ConfigError, RuntimeConfig, load_runtime
from gateway.launch import EXIT_FAILED, EXIT_REFUSED, report_config_error
from gateway.settings import Settings
from gateway.shadow import cli as shadow_cli

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from sqlalchemy.engine import Engine

_DURATION = re.compile(r"^(\d+)([smhd]?)$")


def parse_duration(text: str) -> float:
    m = _DURATION.match(text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 90s, 30m, 1h, 7d)")
    return int(m[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m[2]]


def positive_duration(text: str) -> float:
    seconds = parse_duration(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"a token must live a while: {text!r} is not > 0")
    return seconds


def _duration(seconds: float) -> str:
    """Seconds in the largest whole unit ``parse_duration`` reads back (30d, 2h, 90s)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad flag told in one line (the usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_REFUSED, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _version() -> str:
    try:
        return version("gateway")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gateway", description=__doc__)
    parser.add_argument("--version", action="version", version=f"gateway {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    for name, help_ in (
        ("serve", "run the gateway (needs the upstream key; --fake-upstream for local work)"),
        ("demo", "run the gateway with the built-in fake upstream and print a token"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument(
            "--config",
            help="config file (default: $GATEWAY_CONFIG or config/gateway.yaml; "
            "with the fake upstream config/demo.yaml)",
        )
        p.add_argument("--host", help="listen address (default: $GATEWAY_HOST or 127.0.0.1)")
        p.add_argument("--port", type=int, help="listen port (default: $GATEWAY_PORT or 8080)")
        p.add_argument(
            "--log-format", choices=("auto", "json", "text"),
            help="app logs on stderr (default: $GATEWAY_LOG_FORMAT or auto: text on a "
            "terminal, JSON lines otherwise)",
        )  # fmt: skip
        p.set_defaults(fake_upstream=name == "demo")
    serve = sub.choices["serve"]
    serve.add_argument(
        "--fake-upstream",
        action="store_true",
        help="local work only: answer from the built-in fake upstream, never OpenAI",
    )

    p = sub.add_parser("token", help="mint a development token with the configured HS* secret")
    p.add_argument("--tenant", required=True, help="the tenant the token's calls are charged to")
    p.add_argument("--admin", action="store_true", help="may read every tenant's usage")
    p.add_argument(
        "--ttl", type=positive_duration, default=3600.0, help="lifetime, e.g. 1h (default)"
    )
    p.add_argument("--subject", default="dev", help="the service calling (usage groups by it)")
    p.add_argument("--config", help="the gateway config (default: GATEWAY_CONFIG)")

    _usage_parser(
        sub.add_parser("usage", help="spend and tokens from the ledger, as a table, CSV or JSON")
    )

    p = sub.add_parser("route", help="routing tools")
    route_sub = p.add_subparsers(dest="route_command", required=True)
    explain = route_sub.add_parser(
        "explain", help="which ladder and models would serve a request, and why (no upstream call)"
    )
    explain.add_argument("file", nargs="?", default="-", help="request body JSON (- = stdin)")
    explain.add_argument("--tenant", required=True, help="the tenant the request comes from")
    explain.add_argument("--hint", help="the x-gateway-route header value")
    explain.add_argument("--split-key", default="explain", help="request id that picks a split arm")
    explain.add_argument("--config", help="the gateway config (default: GATEWAY_CONFIG)")

    p = sub.add_parser("config", help="config tools")
    config_sub = p.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser(
        "check", help="validate a config file, or a price file (pricing.yaml) as one"
    )
    check.add_argument("path", nargs="?", help="default: $GATEWAY_CONFIG or config/gateway.yaml")
    check.add_argument(
        "--today", type=date.fromisoformat, help="YYYY-MM-DD: judge sunsets as of this day"
    )
    schema = config_sub.add_parser("schema", help="print the config's JSON schema")
    schema.add_argument("--write", metavar="PATH", help="write to PATH instead of stdout")

    shadow_cli.add_parser(sub)
    p = sub.add_parser("db", help="database tools (GATEWAY_DATABASE_URL)")
    db_sub = p.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="migrate the database to this release's schema")
    db_sub.add_parser("status", help="the database's schema revision and this release's")
    return parser


def _usage_parser(p: argparse.ArgumentParser) -> None:
    """``gateway usage``'s options: filters, the window, grouping, format, forecasts."""
    p.add_argument("--tenant", help="only this tenant")
    p.add_argument("--model", help="only this requested model")
    p.add_argument("--service", help="only this service inside the tenant (services:)")
    p.add_argument(
        "--from", "--since", dest="start", metavar="WHEN",
        help="YYYY-MM-DD, an ISO date-time, today, yesterday, month (its first day) or 7d",
    )  # fmt: skip
    p.add_argument("--to", dest="end", metavar="WHEN", help="exclusive, in the same forms")
    p.add_argument(
        "--month", dest="start", action="store_const", const="month",
        help="this month so far (the same as --from month)",
    )  # fmt: skip
    p.add_argument(
        "--by", "--group-by", dest="group_by", default="day,tenant,model", metavar="KEYS",
        help="comma-separated, of day,month,tenant,subject (the token's sub),route,"
        "model,endpoint,service (the service inside the tenant),shadow_of (the tenant a "
        "shadow call copied) and one tag:<key> (a cost tag's value) (default: day,tenant,model)",
    )  # fmt: skip
    p.add_argument(
        "--format", choices=("table", "csv", "json"), default="table",
        help="table (default; with a total line), or csv / json with every column",
    )  # fmt: skip
    p.add_argument("--wide", action="store_true", help="table: every token count, not the main")
    p.add_argument(
        "--forecast", action="store_true",
        help="spend forecasts instead: today and this month so far, projected end of day and "
        "month, when each budget runs out, the last hour's anomaly score (table or json)",
    )  # fmt: skip
    p.add_argument(
        "--at", metavar="WHEN", help="--forecast as of this ISO date-time (default: now)"
    )
    p.add_argument("--config", help="the gateway config (default: GATEWAY_CONFIG)")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if args.command in ("serve", "demo"):
        from gateway.launch import serve

        return serve(args, settings, demo=args.command == "demo")
    if args.command == "config":
        if args.config_command == "check":
            return _config_check(args.path or settings.config_path, args.today)
        return _config_schema(args.write)
    commands: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
        "db": _db,
        "token": _token,
        "usage": _usage,
        "route": _route_explain,
        "shadow": shadow_cli.command,
    }
    return _with_database_errors(commands[args.command], args, settings)


def _with_database_errors(
    command: Callable[[argparse.Namespace, Settings], int],
    args: argparse.Namespace,
    settings: Settings,
) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from gateway.launch import database_problem

    try:
        return command(args, settings)
    except SQLAlchemyError as exc:
        print(f"gateway: {database_problem(settings.database_url, exc)}", file=sys.stderr)
        return EXIT_FAILED


def _db(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.db import current_revision, head_revision, make_engine, upgrade

    engine = make_engine(settings.database_url)
    if engine.dialect.name == "sqlite":
        print("database: SQLite, whose tables the gateway creates on start; nothing to migrate")
        return 0
    try:
        if args.db_command == "upgrade":
            before, after = upgrade(engine)
            print(f"database schema: {before or 'empty'} -> {after}")
            return 0
        current, head = current_revision(engine), head_revision()
        state = "up to date" if current == head else "run `gateway db upgrade`"
        print(f"database schema: {current or 'empty'}; this release needs {head} ({state})")
        return 0 if current == head else 1
    finally:
        engine.dispose()


def _load(path: str) -> RuntimeConfig | None:
    try:
        return load_runtime(path, os.environ)
    except ConfigError as exc:
        report_config_error(path, exc)
        return None


def _config_check(path: str, today: date | None = None) -> int:
    from gateway.config.check import check_config, check_pricing, is_pricing_file

    if is_pricing_file(path):
        return check_pricing(path)
    return check_config(path, os.environ, today)


def _config_schema(write: str | None) -> int:
    from gateway.config.schema import config_schema_json

    data = config_schema_json()
    if write:
        Path(write).write_bytes(data)
    else:
        sys.stdout.write(data.decode())
    return 0


def _token(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.auth import mint_token

    runtime = _load(args.config or settings.config_path)
    if runtime is None:
        return 1
    if runtime.hs_secret is None:
        print(f"set {runtime.auth.hs256_secret_env} to the gateway's HS256 secret", file=sys.stderr)
        return 1
    if args.tenant not in runtime.tenants:
        print(
            f"warning: tenant {args.tenant!r} is not in the config: its calls get the "
            "`defaults` policy" + ("" if runtime.defaults is not None else ", which is off: "
                                  "they will be refused"),
            file=sys.stderr,
        )  # fmt: skip
    if args.ttl > runtime.auth.max_token_ttl_s:
        most = _duration(runtime.auth.max_token_ttl_s)
        print(f"warning: a token for {_duration(args.ttl)} lives longer than "
              f"auth.max_token_ttl_s ({most}); revoke it by its jti under "
              "`revoked.token_ids` if it leaks", file=sys.stderr)  # fmt: skip
    print(mint_token(runtime.auth, runtime.hs_secret, args.tenant, admin=args.admin,
                     ttl_s=args.ttl, subject=args.subject))  # fmt: skip
    return 0


def _usage(args: argparse.Namespace, settings: Settings) -> int:
    from zoneinfo import ZoneInfo

    from gateway.api.usage import parse_group_by, parse_when
    from gateway.db import make_engine, sqlite_file_missing
    from gateway.errors import GatewayError
    from gateway.ledger import format_usage, usage_report

    runtime = _load(args.config or settings.config_path)
    if runtime is None:
        return 1
    tz_name = runtime.accounting.timezone
    tz = ZoneInfo(tz_name)
    try:
        start = parse_when(args.start, tz, "--from") if args.start else None
        end = parse_when(args.end, tz, "--to") if args.end else None
        group_by = parse_group_by(args.group_by, ())
    except GatewayError as exc:
        print(exc.message, file=sys.stderr)
        return EXIT_REFUSED
    missing = sqlite_file_missing(settings.database_url)
    if missing is not None:  # opening it would create an empty ledger and report $0
        print(
            f"gateway usage: no ledger at {missing} (set GATEWAY_DATABASE_URL to the "
            "gateway's database)",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    engine = make_engine(settings.database_url)
    if args.forecast:
        return _forecast(args, runtime, engine, tz)
    report = partial(
        usage_report, engine, tenant=args.tenant, model=args.model, service=args.service,
        start=start, end=end, tz=tz_name,
    )  # fmt: skip
    rows = report(group_by=group_by)
    unknown = args.tenant is not None and args.tenant not in runtime.tenants
    if unknown and not _unknown_tenant(args.tenant, sorted(runtime.tenants), found=bool(rows)):
        return 1
    total = None
    if args.format == "table" and len(rows) > 1:  # exact: a request is counted once
        total = next(iter(report(group_by=())), None)
    sys.stdout.write(
        format_usage(rows, args.format, total=total, wide=args.wide, group_by=group_by)
    )
    if not rows and args.format == "table":
        print("(no calls in the ledger match)")
    return 0


def _forecast(
    args: argparse.Namespace, runtime: RuntimeConfig, engine: Engine, tz: ZoneInfo
) -> int:
    import asyncio
    from datetime import UTC, datetime

    from gateway.api.usage import parse_when
    from gateway.errors import GatewayError
    from gateway.forecast.live import LiveForecasts
    from gateway.forecast.live_format import format_forecasts, select

    if args.format == "csv":
        print("gateway usage: --forecast prints a table or json", file=sys.stderr)
        return EXIT_REFUSED
    try:
        at = parse_when(args.at, tz, "--at") if args.at else datetime.now(UTC)
    except GatewayError as exc:
        print(exc.message, file=sys.stderr)
        return EXIT_REFUSED
    everything = asyncio.run(LiveForecasts(engine, lambda: runtime).refresh(at))
    shown = select(everything, tenant=args.tenant, service=args.service)
    if not shown and args.format == "table":
        print("(no spend in the ledger's last five weeks matches)")
        return 0
    sys.stdout.write(format_forecasts(shown, args.format, tz))
    return 0


def _unknown_tenant(tenant: str, known: list[str], *, found: bool) -> bool:
    """Told on stderr; True when the ledger still has the tenant's calls to show."""
    names = ", ".join(known) or "none"
    if found:
        print(f"warning: tenant {tenant!r} is not in the config (removed or renamed?); "
              "showing its calls from the ledger", file=sys.stderr)  # fmt: skip
        return True
    print(f"gateway usage: no tenant {tenant!r} in the config or the ledger "
          f"(the config's tenants: {names})", file=sys.stderr)  # fmt: skip
    return False


def _route_explain(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.explain import explain

    runtime = _load(args.config or settings.config_path)
    if runtime is None:
        return 1
    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        print(f"gateway: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_REFUSED
    text, ok = explain(runtime, args.tenant, raw, hint=args.hint, split_key=args.split_key)
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
