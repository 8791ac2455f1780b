"""The ``gateway`` command: serve, demo, token, config check / schema."""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.config import ConfigError, RuntimeConfig, compile_config, load_files, load_runtime
from gateway.config.model import GatewayConfig
from gateway.pricing import PriceTable
from gateway.settings import Settings

if TYPE_CHECKING:
    from fake_openai import FakeOpenAI

log = logging.getLogger("gateway")

_DURATION = re.compile(r"^(\d+)([smhd]?)$")


def parse_duration(text: str) -> float:
    m = _DURATION.match(text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 90s, 30m, 1h, 7d)")
    return int(m[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m[2]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    for name, help_ in (
        ("serve", "run the gateway (built-in fake upstream when no OPENAI_API_KEY is set)"),
        ("demo", "run the gateway with the built-in fake upstream and print a token"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument(
            "--config", help="config file (default: $GATEWAY_CONFIG or config/gateway.yaml)"
        )
        p.add_argument("--host")
        p.add_argument("--port", type=int)

    p = sub.add_parser("token", help="mint a development token with the configured HS* secret")
    p.add_argument("--tenant", required=True)
    p.add_argument("--admin", action="store_true")
    p.add_argument("--ttl", type=parse_duration, default=3600.0, help="lifetime, e.g. 1h (default)")
    p.add_argument("--subject", default="dev")
    p.add_argument("--config")

    p = sub.add_parser("usage", help="spend and tokens from the ledger, as a table, CSV or JSON")
    p.add_argument("--tenant")
    p.add_argument("--model")
    p.add_argument("--from", dest="start", metavar="WHEN", help="YYYY-MM-DD or ISO date-time")
    p.add_argument("--to", dest="end", metavar="WHEN", help="exclusive")
    p.add_argument(
        "--group-by", default="day,tenant,model", help="of day,month,tenant,model,endpoint"
    )
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--config")

    p = sub.add_parser("route", help="routing tools")
    route_sub = p.add_subparsers(dest="route_command", required=True)
    explain = route_sub.add_parser(
        "explain", help="which ladder and models would serve a request, and why (no upstream call)"
    )
    explain.add_argument("file", nargs="?", default="-", help="request body JSON (- = stdin)")
    explain.add_argument("--tenant", required=True)
    explain.add_argument("--hint", help="the x-gateway-route header value")
    explain.add_argument("--split-key", default="explain", help="request id that picks a split arm")
    explain.add_argument("--config")

    p = sub.add_parser("config", help="config tools")
    config_sub = p.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate a config file")
    check.add_argument("path", nargs="?")
    schema = config_sub.add_parser("schema", help="print the config's JSON schema")
    schema.add_argument("--write", metavar="PATH", help="write to PATH instead of stdout")

    p = sub.add_parser("db", help="database tools (GATEWAY_DATABASE_URL)")
    db_sub = p.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="migrate the database to this release's schema")
    db_sub.add_parser("status", help="the database's schema revision and this release's")

    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.command == "db":
        return _db(args.db_command, settings)
    if args.command in ("serve", "demo"):
        return _serve(args, settings, force_fake=args.command == "demo")
    if args.command == "token":
        return _token(args, settings)
    if args.command == "usage":
        return _usage(args, settings)
    if args.command == "route":
        return _route_explain(args, settings)
    if args.config_command == "check":
        return _config_check(args.path or settings.config_path)
    return _config_schema(args.write)


def _db(command: str, settings: Settings) -> int:
    from gateway.db import current_revision, head_revision, make_engine, upgrade

    engine = make_engine(settings.database_url)
    if engine.dialect.name == "sqlite":
        print("database: SQLite, whose tables the gateway creates on start; nothing to migrate")
        return 0
    try:
        if command == "upgrade":
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
        print(f"config {path} is invalid:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return None


def _config_check(path: str) -> int:
    runtime = _load(path)
    if runtime is None:
        return 1
    cfg = runtime.source
    print(f"ok: {path} ({len(cfg.tenants)} tenants, {len(cfg.models)} models, "
          f"{len(cfg.upstreams)} upstreams; prices {runtime.pricing.version})")  # fmt: skip
    unpriced = [m.name for m in runtime.models.values()
                if runtime.pricing.price_for(m.upstream_model) is None]  # fmt: skip
    if unpriced:
        consequence = "served as unpriced" if cfg.accounting.allow_unpriced else "refused"
        print(f"warning: no price for {', '.join(unpriced)}: calls to them are {consequence}")
    return 0


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
    print(mint_token(runtime.auth, runtime.hs_secret, args.tenant, admin=args.admin,
                     ttl_s=args.ttl, subject=args.subject))  # fmt: skip
    return 0


def _usage(args: argparse.Namespace, settings: Settings) -> int:
    from zoneinfo import ZoneInfo

    from gateway.api.usage import parse_group_by, parse_when
    from gateway.db import make_engine
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
        return 2
    rows = usage_report(
        make_engine(settings.database_url),
        tenant=args.tenant,
        model=args.model,
        start=start,
        end=end,
        group_by=group_by,
        tz=tz_name,
    )
    sys.stdout.write(format_usage(rows, args.format))
    return 0


def _route_explain(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.explain import explain

    runtime = _load(args.config or settings.config_path)
    if runtime is None:
        return 1
    raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    text, ok = explain(runtime, args.tenant, raw, hint=args.hint, split_key=args.split_key)
    print(text)
    return 0 if ok else 1


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    access = logging.getLogger("gateway.access")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    access.propagate = False


def _serve(args: argparse.Namespace, settings: Settings, *, force_fake: bool) -> int:
    import uvloop

    _configure_logging(settings.log_level)
    path = args.config or settings.config_path
    try:
        cfg, pricing = load_files(path)
    except ConfigError as exc:
        print(f"config {path} is invalid:\n{exc}", file=sys.stderr)
        return 1
    host = args.host or settings.host
    port = args.port or settings.port
    return uvloop.run(_run(settings, path, cfg, pricing, host, port, force_fake))


async def _run(
    settings: Settings,
    path: str,
    cfg: GatewayConfig,
    pricing: PriceTable,
    host: str,
    port: int,
    force_fake: bool,
) -> int:
    import uvicorn

    from gateway.app import create_app
    from gateway.serving import DrainingServer, http_protocol

    env = dict(os.environ)
    runtime = compile_config(cfg, env, pricing=pricing)
    fake: FakeOpenAI | None = None
    override: tuple[str, str] | None = None
    if force_fake or runtime.missing_upstream_keys():
        from fake_openai import FakeOpenAI

        fake_key = "sk-fake-" + secrets.token_hex(8)
        fake = FakeOpenAI(api_key=fake_key)
        override = (await fake.start("127.0.0.1", 0), fake_key)
        if force_fake:
            env = {k: v for k, v in env.items() if not _is_upstream_key_env(cfg, k)}
        runtime = compile_config(cfg, env, pricing=pricing, upstream_override=override)
        _announce_fake(override[0])
    token_hint = None
    if runtime.hs_secret is None and runtime.auth.hs256_secret_env:
        if fake is None:
            print(f"refusing to start: {runtime.auth.hs256_secret_env} is not set", file=sys.stderr)
            return 1
        env[runtime.auth.hs256_secret_env] = secrets.token_urlsafe(24)
        runtime = compile_config(cfg, env, pricing=pricing, upstream_override=override)
        token_hint = runtime.hs_secret
    app = create_app(settings, runtime, config_path=Path(path), env=env, upstream_override=override)
    if fake is not None:
        _print_quickstart(runtime, host, port, token_hint)
    server = DrainingServer(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            http=http_protocol(runtime.server.header_timeout_s, runtime.server.max_header_bytes),
            lifespan="on",
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=math.ceil(runtime.server.shutdown_timeout_s),
        ),
        app.services,
        runtime.server.drain_s,
    )
    try:
        await server.serve()
    finally:
        if fake is not None:
            await fake.stop()
    return 0


def _is_upstream_key_env(cfg: GatewayConfig, name: str) -> bool:
    return any(u.api_key_env == name for u in cfg.upstreams.values())


def _announce_fake(url: str) -> None:
    bar = "=" * 72
    log.warning(
        "\n%s\n  NO OPENAI_API_KEY: serving from the BUILT-IN FAKE UPSTREAM at %s\n"
        "  Answers are canned test data, not a model's. Set OPENAI_API_KEY to use OpenAI.\n%s",
        bar,
        url,
        bar,
    )


def _print_quickstart(runtime: RuntimeConfig, host: str, port: int, secret: bytes | None) -> None:
    from gateway.auth import mint_token

    if runtime.hs_secret is None:
        return
    tenant = next(iter(runtime.tenants), "demo")
    model = next(iter(runtime.models))
    token = mint_token(runtime.auth, runtime.hs_secret, tenant, admin=False, ttl_s=86400,
                       subject="demo")  # fmt: skip
    base = f"http://{host}:{port}/v1"
    note = "  (signed with a secret generated for this run)" if secret else ""
    print(
        f"\nGateway on {base}; a token for tenant {tenant!r}, valid 24h{note}:\n\n"
        f"  export OPENAI_BASE_URL={base}\n  export OPENAI_API_KEY={token}\n\n"
        f'  curl -s {base}/responses -H "Authorization: Bearer $OPENAI_API_KEY" \\\n'
        f"    -H 'Content-Type: application/json' \\\n"
        f'    -d \'{{"model": "{model}", "input": "Say hello"}}\'\n\n'
        f"  python -c 'from openai import OpenAI; "
        f'print(OpenAI().responses.create(model="{model}", input="Say hello").output_text)\'\n',
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
