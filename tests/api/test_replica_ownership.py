"""Read-your-writes across replicas: an object made through one replica is usable through
another at once (services behind a load balancer create a file, then use it elsewhere)."""

from __future__ import annotations

import openai
from harness import GatewayServer, config_dict
from pg import PostgresServer
from redis_server import RedisServer
from sqlalchemy import create_engine, text

from fake_openai import FakeOpenAIServer


def owner_row(database_url: str, object_id: str) -> tuple[str, str] | None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT kind, tenant FROM object_owner WHERE object_id = :id"),
                {"id": object_id},
            ).first()
    finally:
        engine.dispose()
    return (row[0], row[1]) if row else None


def sdk(gateway: GatewayServer, tenant: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token(tenant), max_retries=0)


def test_objects_made_on_one_replica_are_the_callers_on_another_at_once(
    fake_server: FakeOpenAIServer, postgres: PostgresServer, redis: RedisServer
) -> None:
    database = postgres.migrated_database()  # replicas share the database and Redis
    config = config_dict(fake_server.base_url)
    with (
        GatewayServer(config, database_url=database, redis_url=redis.url) as one,
        GatewayServer(config, database_url=database, redis_url=redis.url) as two,
    ):
        made_here, used_there = sdk(one, "alpha"), sdk(two, "alpha")
        # Written through before the answer: in the shared database when the client has it,
        # so the other replica knows it on the next call without waiting.
        file = made_here.files.create(file=("a.txt", b"shared"), purpose="assistants")
        assert owner_row(database, file.id) == ("file", "alpha")
        assert used_there.files.retrieve(file.id).id == file.id
        store = made_here.vector_stores.create(name="kb", file_ids=[file.id])
        assert used_there.vector_stores.retrieve(store.id).id == store.id
        # A response is recorded in a batch; the other replica waits out one batch window.
        first = made_here.responses.create(model="gpt-5-nano", input="remember this")
        follow = used_there.responses.create(
            model="gpt-5-nano", input="and then?", previous_response_id=first.id
        )
        assert follow.previous_response_id == first.id
        # Still nobody else's, on either replica.
        stranger = sdk(two, "beta")
        for call in (
            lambda: stranger.files.retrieve(file.id),
            lambda: stranger.vector_stores.retrieve(store.id),
            lambda: stranger.responses.retrieve(first.id),
        ):
            try:
                call()
            except openai.NotFoundError:
                continue
            raise AssertionError("another tenant reached an object through the second replica")
