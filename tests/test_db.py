"""PostgreSQL: explicit migrations, the same ledger and budgets as SQLite, readiness that tells."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import datetime

import httpx
import openai
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from harness import GatewayServer, base_config, env_for_tests, ledger_rows, metric_value
from pg import PostgresServer
from sqlmodel import SQLModel

from fake_openai import FakeOpenAIServer
from gateway.config import compile_config, parse_config
from gateway.db import current_revision, head_revision, make_engine, upgrade
from gateway.services import Services

pytestmark = pytest.mark.slow
TENANTS = '  spender: {models: ["*"], budgets: {daily_usd: 5}}\n'


def migrated(postgres: PostgresServer) -> str:
    return postgres.migrated_database()


def test_upgrade_creates_exactly_the_schema_the_models_describe(postgres: PostgresServer) -> None:
    engine = make_engine(postgres.new_database())
    assert current_revision(engine) is None, "a server database is not created implicitly"
    assert upgrade(engine) == (None, head_revision())
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == [], "the migrations and the models agree"
    assert upgrade(engine) == (head_revision(), head_revision()), "a second run changes nothing"
    engine.dispose()


def test_the_cli_migrates_and_reports(postgres: PostgresServer) -> None:
    url = postgres.new_database()
    env = {"GATEWAY_DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    status = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "db", "status"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert status.returncode == 1
    assert "run `gateway db upgrade`" in status.stdout
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert f"empty -> {head_revision()}" in done.stdout


def test_a_gateway_refuses_to_start_on_an_unmigrated_database(postgres: PostgresServer) -> None:
    config = compile_config(parse_config(base_config("http://127.0.0.1:9/v1")), env_for_tests())
    services = Services(config, make_engine(postgres.new_database()))
    with pytest.raises(RuntimeError, match="gateway db upgrade"):
        asyncio.run(services.start())


def test_calls_are_metered_into_postgresql_and_budgets_survive_a_restart(
    postgres: PostgresServer, fake: FakeOpenAIServer
) -> None:
    url = migrated(postgres)
    config = base_config(fake.base_url, tenants=TENANTS)
    with GatewayServer(config, database_url=url) as gw:
        client = openai.OpenAI(base_url=gw.base_url, api_key=gw.token("spender"), max_retries=0)
        raw = client.responses.with_raw_response.create(model="gpt-5-nano", input="hello postgres")
        with client.responses.stream(model="gpt-5-nano", input="and a stream") as stream:
            for _event in stream:
                pass
        rows = ledger_rows(url, at_least=2)
        assert len(rows) == 2
        spent = sum(int(r["cost_nanos"]) for r in rows)  # type: ignore[call-overload]
        assert spent > 0
        assert rows[0]["request_id"] == raw.headers["x-gateway-request-id"]
        ts = rows[0]["ts"]
        assert isinstance(ts, datetime)
        assert ts.tzinfo is not None, "timestamptz"
    with GatewayServer(config, database_url=url) as again:
        left = metric_value(
            again, "gateway_budget_remaining_usd", tenant="spender", window="day", model="_all"
        )
        assert left == pytest.approx(5 - spent / 1e9), "rebuilt from the ledger at start"


def test_readiness_fails_while_the_database_is_down_and_recovers(
    postgres: PostgresServer, fake: FakeOpenAIServer
) -> None:
    url = migrated(postgres)
    with GatewayServer(base_config(fake.base_url), database_url=url) as gw:
        assert httpx.get(f"{gw.root}/readyz").status_code == 200
        postgres.stop()
        try:
            answer = httpx.get(f"{gw.root}/readyz", timeout=10)
            assert answer.status_code == 503
            assert answer.json()["status"] == "unavailable"
        finally:
            postgres.start()
            postgres.wait_ready()
        deadline = time.monotonic() + 10
        while httpx.get(f"{gw.root}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "readiness never came back"
            time.sleep(0.2)
