"""The guardrails in their order (README, *Guardrails and remedies*): redaction first, so the
moderation pre-check and the response cache only ever see placeholders, and a cached answer is
restored with the values of the request it answers, never those of the one that filled it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest
from harness import GatewayServer, tenants_gateway

from fake_openai import FakeOpenAIServer

TENANTS = {
    "careful": {
        "models": ["*"],
        "store": False,
        "pii": {"mode": "mask", "restore": True},
        "cache": {"mode": "on", "ttl_s": 60},
        "moderation": {"on_error": "fail_closed"},
    }
}
ALICE, BOB = "alice.smith@example.com", "bob.jones@example.org"


@pytest.fixture(scope="module")
def gw(fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:  # fmt: skip
    with tenants_gateway(fake_server.base_url, tmp_path_factory, TENANTS, "guardrails") as server:
        yield server


def test_a_cached_answer_is_restored_with_the_asking_requests_own_values(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    client = openai.OpenAI(
        base_url=gw.base_url, api_key=gw.token("careful"), max_retries=0, timeout=10
    )

    def ask(email: str) -> tuple[str, str]:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-5-nano", messages=[{"role": "user", "content": f"write to {email} today"}]
        )
        content = raw.parse().choices[0].message.content
        assert content is not None
        return content, raw.headers["x-gateway-cache"]

    assert ask(ALICE) == (f"Fake answer: write to {ALICE} today", "miss")
    assert ask(BOB) == (f"Fake answer: write to {BOB} today", "hit")
    sent = [r for r in fake.requests if r.path in ("/v1/chat/completions", "/v1/moderations")]
    assert [r.path for r in sent] == [
        "/v1/moderations",
        "/v1/chat/completions",
        "/v1/moderations",
    ], "the second call was answered from the cache (after its own moderation check)"
    for request in sent:
        body = json.dumps(json.loads(request.body), ensure_ascii=False)
        assert ALICE not in body
        assert BOB not in body
        assert "«EMAIL_1»" in body
