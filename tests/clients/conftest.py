"""The client suite's gateway: the shared fake upstream behind a gateway with a rate-limited
tenant beside the usual ones (so every SDK error class has a refusal that produces it) and one
whose ledger rows a single test reads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness import GatewayServer, config_dict

from fake_openai import FakeOpenAIServer

TENANTS = {
    "limited": {"models": ["*"], "limits": {"rpm": 1}},
    "codex": {"models": ["*"]},  # its ledger rows are the Codex WebSocket test's alone
    "paced": {"models": ["*"], "limits": {"rpm": 100}},
}


@pytest.fixture(scope="package")
def client_gw(
    fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    db = tmp_path_factory.mktemp("clients") / "gateway.db"
    config = config_dict(fake_server.base_url, tenants=TENANTS)
    with GatewayServer(config, database_url=f"sqlite:///{db}") as gw:
        yield gw
