"""``gateway serve`` and ``gateway demo``: check what an operator must get right, then serve.

Production never falls back to a stand-in: ``serve`` without an upstream key refuses
to start, so a pod whose Secret is missing crash-loops instead of turning Ready and
answering with canned text. The built-in fake upstream runs only when asked for —
``gateway demo``, or ``serve --fake-upstream`` for local work — and says so loudly.
Every refusal is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from gateway.config import ConfigError, RuntimeConfig, compile_config, load_files
from gateway.config.check import report_invalid
from gateway.config.model import GatewayConfig
from gateway.pricing import PriceTable
from gateway.settings import Settings
from gateway.telemetry.app_log import configure_logging

if TYPE_CHECKING:
    from fake_openai import FakeOpenAI

log = logging.getLogger("gateway")

DEMO_CONFIG = "demo.yaml"  # beside gateway.yaml: permissive, for the fake upstream only
EXIT_REFUSED = 2  # a setting the operator must supply is missing or unusable
EXIT_FAILED = 1  # the config is invalid, or the database or the port cannot be had


class Refused(Exception):
    """A reason not to start, told in one line."""

    def __init__(self, message: str, code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.code = code


def config_path(args: argparse.Namespace, settings: Settings, *, fake: bool) -> str:
    """``--config``; else, with the fake upstream, ``demo.yaml`` beside the configured file."""
    if args.config:
        return str(args.config)
    if fake:
        return str(Path(settings.config_path).with_name(DEMO_CONFIG))
    return settings.config_path


def serve(args: argparse.Namespace, settings: Settings, *, demo: bool) -> int:
    import uvloop

    fake = demo or args.fake_upstream
    path = config_path(args, settings, fake=fake)
    try:
        cfg, pricing = load_files(path)
    except ConfigError as exc:
        report_config_error(path, exc)
        return EXIT_FAILED
    host = args.host or settings.host
    port = args.port or settings.port
    settings = dataclasses.replace(settings, config_path=path, host=host, port=port)
    env = _environment(cfg, fake=fake)
    try:
        try:
            runtime = compile_config(cfg, env, pricing=pricing)
        except ConfigError as exc:  # the file is valid: it is the environment (a short secret)
            raise Refused("; ".join(p.message for p in exc.problems)) from None
        if not fake:
            _require_production_settings(runtime)
        engine = open_database(settings.database_url)
    except Refused as exc:
        print(f"gateway: refusing to start: {exc}", file=sys.stderr)
        return exc.code
    configure_logging(settings.log_level, args.log_format or settings.log_format)
    return uvloop.run(_run(settings, cfg, pricing, env, engine, fake=fake))


def report_config_error(path: str, exc: ConfigError) -> None:
    report_invalid(f"config {path}", exc)


def _environment(cfg: GatewayConfig, *, fake: bool) -> dict[str, str]:
    """The process environment; with the fake upstream, without the upstream keys.

    A real key must never reach the fake, nor a fake answer be mistaken for the real one.
    """
    env = dict(os.environ)
    if fake:
        keys = {u.api_key_env for u in cfg.upstreams.values()}
        env = {k: v for k, v in env.items() if k not in keys}
    return env


def _require_production_settings(runtime: RuntimeConfig) -> None:
    missing = sorted(
        {runtime.source.upstreams[name].api_key_env for name in runtime.missing_upstream_keys()}
    )
    if missing:
        raise Refused(
            f"{' and '.join(missing)} is not set (the upstream API key); for local work "
            "without one, run `gateway demo` or `gateway serve --fake-upstream`"
        )
    secret_env = runtime.auth.hs256_secret_env
    if runtime.hs_secret is None and secret_env:
        raise Refused(f"{secret_env} is not set (the secret that signs HS* tokens)")


def open_database(url: str) -> Engine:
    """An engine on a database that answers and is at this release's schema, or `Refused`."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from gateway.db import make_engine, require_schema

    try:
        engine = make_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        require_schema(engine)
    except SQLAlchemyError as exc:
        raise Refused(database_problem(url, exc), EXIT_FAILED) from None
    except RuntimeError as exc:  # require_schema: a migration is due
        raise Refused(str(exc), EXIT_FAILED) from None
    return engine


def database_problem(url: str, exc: Exception) -> str:
    """``cannot reach the database at <url, password hidden>: <the driver's first line>``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, DBAPIError

    try:
        where = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        where = "GATEWAY_DATABASE_URL"
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    return f"cannot reach the database at {where}: {first}"


def startup_problem(exc: BaseException, database_url: str) -> str | None:
    """What an operator can fix, in one line, for a failure while the app starts; else None."""
    from sqlalchemy.exc import SQLAlchemyError

    from gateway.quota.guard import SharedStateRequired
    from gateway.telemetry.metrics_listener import MetricsPortUnavailable

    if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        return startup_problem(exc.exceptions[0], database_url)  # Litestar's task group
    if isinstance(exc, SharedStateRequired):
        return str(exc)
    if isinstance(exc, SQLAlchemyError):
        return database_problem(database_url, exc)
    if isinstance(exc, MetricsPortUnavailable):
        return str(exc)
    return None


async def _run(
    settings: Settings,
    cfg: GatewayConfig,
    pricing: PriceTable,
    env: dict[str, str],
    engine: Engine,
    *,
    fake: bool,
) -> int:
    import uvicorn

    from gateway.app import create_app
    from gateway.serving import DrainingServer, http_protocol
    from gateway.telemetry.metrics_listener import metrics_port
    from gateway.telemetry.startup import startup_fields, startup_line

    stand_in: FakeOpenAI | None = None
    override: tuple[str, str] | None = None
    generated = False
    if fake:
        from fake_openai import FakeOpenAI

        fake_key = "sk-fake-" + secrets.token_hex(8)
        stand_in = FakeOpenAI(api_key=fake_key)
        override = (await stand_in.start("127.0.0.1", 0), fake_key)
        _announce_fake(override[0])
        secret_env = cfg.auth.hs256_secret_env
        if secret_env and not env.get(secret_env):
            env[secret_env] = secrets.token_urlsafe(48)  # 64 bytes: enough for HS512
            generated = True
    runtime = compile_config(cfg, env, pricing=pricing, upstream_override=override)
    app = create_app(
        settings,
        runtime,
        engine,
        config_path=Path(settings.config_path),
        env=env,
        upstream_override=override,
        tune_gc=True,
    )
    if fake:
        _print_quickstart(runtime, settings.host, settings.port, generated=generated)
    fields = startup_fields(settings, runtime, metrics_port(settings, runtime.server))
    log.info("starting: %s", startup_line(fields), extra={"fields": fields})
    server = DrainingServer(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            http=http_protocol(runtime.server.header_timeout_s, runtime.server.max_header_bytes),
            lifespan="on",
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=math.ceil(runtime.server.shutdown_timeout_s),
        ),
        app.services,
        runtime.server.drain_s,
        explain=lambda exc: startup_problem(exc, settings.database_url),
    )
    try:
        await server.serve()
    except SystemExit:  # uvicorn's way to say that start-up failed
        if server.startup_failure is None:
            raise
        print(f"gateway: cannot start: {server.startup_failure}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if stand_in is not None:
            await stand_in.stop()
    return 0


def _announce_fake(url: str) -> None:
    bar = "=" * 72
    log.warning(
        "\n%s\n  FAKE UPSTREAM: serving from the BUILT-IN FAKE UPSTREAM at %s\n"
        "  Answers are canned test data, not a model's; no upstream key is used.\n"
        "  For local work only: production runs `gateway serve` with OPENAI_API_KEY.\n%s",
        bar,
        url,
        bar,
    )


def _print_quickstart(runtime: RuntimeConfig, host: str, port: int, *, generated: bool) -> None:
    from gateway.auth import mint_token

    if runtime.hs_secret is None:
        return
    tenant = next(iter(runtime.tenants), "demo")
    policy = runtime.policy_for(tenant)
    usable = [n for n in [*runtime.models, *runtime.routes] if policy and policy.allows_model(n)]
    model = usable[0] if usable else next(iter(runtime.models))
    token = mint_token(runtime.auth, runtime.hs_secret, tenant, admin=False, ttl_s=86400,
                       subject="demo")  # fmt: skip
    base = f"http://{host}:{port}/v1"
    note = "  (signed with a secret generated for this run)" if generated else ""
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
