"""One fake per test module, cleared before each test, and a synchronous SDK client for it."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from fake_clients import API_KEY

from fake_openai import FakeOpenAIServer


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key=API_KEY) as running:
        yield running


@pytest.fixture
def fake(server: FakeOpenAIServer) -> FakeOpenAIServer:
    server.clear()
    return server


@pytest.fixture
def client(fake: FakeOpenAIServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=0, timeout=5.0)
