"""What the storage tests share: a gateway's services on the fake upstream, stores made on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import openai
from harness import UPSTREAM_KEY, config_dict, env_for_tests, merged, to_yaml
from sqlalchemy import text

from fake_openai import FakeOpenAIServer
from gateway.config import RuntimeConfig, compile_config, parse_config
from gateway.db import make_engine
from gateway.pipeline.meter import Meter
from gateway.pricing.table import PriceTable
from gateway.services import Services
from gateway.storage import StorageMeter
from gateway.storage.charge import FEE

MB = 1_000_000
PRICE = 100_000  # nano-USD per MB-day: $0.10 per GB-day
PRICES = PriceTable(version="test", as_of=date(2026, 1, 1), models={}, tools={FEE: PRICE}, tiers={})
UNPRICED = PriceTable(version="test", as_of=date(2026, 1, 1), models={}, tools={}, tiers={})


def gateway_config(
    upstream_url: str,
    *,
    prices: PriceTable = PRICES,
    tenants: Mapping[str, object] | None = None,
    patch: Mapping[str, Any] | None = None,
) -> RuntimeConfig:
    data = merged(config_dict(upstream_url, tenants=tenants), patch or {})
    return compile_config(parse_config(to_yaml(data)), env_for_tests(), pricing=prices)


def today() -> date:
    return datetime.now(UTC).date()


def tomorrow() -> datetime:
    """An hour into tomorrow (UTC): today is then the last full day, the one charged."""
    return datetime.combine(today() + timedelta(days=1), time(1), UTC)


def make_store(fake: FakeOpenAIServer, size: int) -> str:
    """A vector store made directly on the fake upstream, holding ``size`` bytes of text."""
    client = openai.OpenAI(base_url=fake.base_url, api_key=UPSTREAM_KEY, max_retries=0)
    file_ids = []
    if size:
        made = client.files.create(file=("kb.txt", b"x" * size), purpose="assistants")
        file_ids.append(made.id)
    store = client.vector_stores.create(name="kb", file_ids=file_ids)
    assert store.usage_bytes == size
    return store.id


def delete_store(fake: FakeOpenAIServer, store_id: str) -> None:
    client = openai.OpenAI(base_url=fake.base_url, api_key=UPSTREAM_KEY, max_retries=0)
    assert client.vector_stores.delete(store_id).deleted


def polls(fake: FakeOpenAIServer) -> list[str]:
    """The stores the fake was asked for, in order (``GET /v1/vector_stores/{id}``)."""
    prefix = "/v1/vector_stores/"
    return [
        r.path.removeprefix(prefix)
        for r in fake.requests
        if r.method == "GET" and r.path.startswith(prefix) and "/" not in r.path[len(prefix) :]
    ]


@asynccontextmanager
async def running(config: RuntimeConfig, database_url: str) -> AsyncIterator[Services]:
    services = Services(config, make_engine(database_url))
    await services.start()
    try:
        yield services
    finally:
        await services.aclose()
        services.engine.dispose()


def storage_meter(services: Services, **options: Any) -> StorageMeter:
    """A storage meter like the one a replica runs, on these services' database and upstream."""
    meter = Meter(services.quota, services.recorder)
    return StorageMeter(services.engine, lambda: services.config, services.pool, meter, **options)


async def storage_rows(services: Services) -> list[dict[str, Any]]:
    """The ledger's storage rows, by store id."""
    await services.ledger.flush()
    with services.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT * FROM ledger WHERE endpoint = 'vector_stores.storage' "
                "ORDER BY response_id, request_id"
            )
        )
        return [dict(r._mapping) for r in rows]


def charges(services: Services) -> list[tuple[str, str, str, int | None]]:
    """The `storage_charge` claims: (store, day, tenant, bytes), by store and day."""
    with services.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT store_id, day, tenant, usage_bytes FROM storage_charge "
                "ORDER BY store_id, day"
            )
        )
        return [(r[0], str(r[1]), r[2], r[3]) for r in rows]
