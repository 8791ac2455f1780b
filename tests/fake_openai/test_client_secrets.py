"""Client secrets: minted with their session, accepted where OpenAI accepts them and
nowhere else.
"""

from __future__ import annotations

import time

import openai
import pytest
from fake_clients import MODEL, recv, run, sdk

from fake_openai import FakeOpenAIServer


def test_client_secret_is_minted_and_opens_a_session_with_its_config(
    fake: FakeOpenAIServer,
) -> None:
    async def scenario() -> None:
        async with sdk(fake) as client:
            secret = await client.realtime.client_secrets.create(
                expires_after={"anchor": "created_at", "seconds": 600},
                session={
                    "type": "realtime",
                    "model": MODEL,
                    "instructions": "Speak like a pirate.",
                },
            )
        assert secret.value.startswith("ek_")
        assert time.time() + 590 < secret.expires_at <= time.time() + 600
        assert secret.session.type == "realtime"
        assert secret.session.object == "realtime.session"
        assert secret.session.id.startswith("sess_")
        assert secret.session.instructions == "Speak like a pirate."

        async with sdk(fake, secret.value).realtime.connect(model=MODEL) as conn:
            created = await recv(conn)
        assert created.session.instructions == "Speak like a pirate."

    run(scenario())
    assert fake.requests[-1].headers["authorization"].startswith("Bearer ek_")


def test_client_secret_is_not_an_api_key_elsewhere(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake) as client:
            secret = await client.realtime.client_secrets.create(session={"type": "realtime"})
            with pytest.raises(openai.BadRequestError) as too_short:
                await client.realtime.client_secrets.create(
                    expires_after={"anchor": "created_at", "seconds": 5}
                )
        async with sdk(fake, secret.value) as browser:
            with pytest.raises(openai.AuthenticationError):
                await browser.responses.create(model="gpt-4o", input="hi")
        assert too_short.value.param == "expires_after.seconds"

    run(scenario())
