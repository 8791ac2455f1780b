"""How the fake's own tests talk to it: the key it requires, the token rules they check its
usage against, SDK clients, and strict checks of its socket events.

Every event a socket test receives is validated strictly against the official SDK's own
pydantic type for its ``type`` (the SDK itself parses without validating) and checked for fields
the SDK does not declare, so a misspelt or misplaced field fails there rather than in a gateway
test.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Coroutine
from typing import Any, TypeVar, get_args

import openai
import pytest
from openai.types.realtime import RealtimeServerEvent
from openai.types.responses import ResponsesServerEvent
from pydantic import BaseModel
from websockets.exceptions import InvalidStatus

from fake_openai import FakeOpenAIServer
from fake_openai.conformance import undeclared

API_KEY = "sk-fake-test-0123456789abcdef"
MODEL = "gpt-realtime"

# --------------------------------------------------------------------------- token rules


def tokens_of(*texts: str) -> int:
    """The fake's documented token rule: a quarter of the UTF-8 bytes, at least 1."""
    return max(1, sum(len(text.encode()) for text in texts) // 4)


def tokens(text: str) -> int:
    """The fake's documented Realtime text rule: a quarter of the characters, rounded up."""
    return math.ceil(len(text) / 4)


def audio_tokens(seconds: float) -> int:
    """The documented input audio rule: 10 tokens a second, rounded up."""
    return math.ceil(seconds * 10)


# --------------------------------------------------------------------------- clients

T = TypeVar("T")


def run(scenario: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(scenario, timeout=20))


def sdk(fake: FakeOpenAIServer, key: str = API_KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.base_url, api_key=key, max_retries=0, timeout=5.0)


def refusal(scenario: Coroutine[Any, Any, None]) -> tuple[int, dict[str, Any]]:
    """Run a connect that must be refused; the HTTP status and the OpenAI error object."""
    with pytest.raises(InvalidStatus) as refused:
        run(scenario)
    response = refused.value.response
    return response.status_code, json.loads(response.body or b"{}")["error"]


# --------------------------------------------------------------------------- strict SDK shapes


def _classes_by_type(union: Any) -> dict[str, type[BaseModel]]:
    members, *_ = get_args(union)  # Annotated[Union[...], PropertyInfo]
    classes: dict[str, type[BaseModel]] = {}
    for cls in get_args(members):
        (name,) = get_args(cls.model_fields["type"].annotation)
        classes[name] = cls
    return classes


REALTIME_TYPES = _classes_by_type(RealtimeServerEvent)
RESPONSES_TYPES = _classes_by_type(ResponsesServerEvent)

# Fields the wire carries that the SDK's 3.57 types leave undeclared.
KNOWN_EXTRAS = {".session.id", ".session.object", ".session.expires_at"}
KNOWN_RESPONSES_EXTRAS = {".response.store", ".obfuscation"}


def check_shape(raw: bytes, classes: dict[str, type[BaseModel]], allowed: set[str]) -> None:
    data = json.loads(raw)
    model = classes[data["type"]].model_validate(data)
    extras = undeclared(model) - allowed
    assert not extras, f"{data['type']} carries fields the SDK does not declare: {extras}"


async def recv(conn: Any) -> Any:
    """The next Realtime event, strictly checked, parsed by the SDK."""
    raw = await conn.recv_bytes()
    check_shape(raw, REALTIME_TYPES, KNOWN_EXTRAS)
    return conn.parse_event(raw)


async def recv_until(conn: Any, last: str) -> list[Any]:
    events = [await recv(conn)]
    while events[-1].type != last:
        events.append(await recv(conn))
    return events


async def recv_response_ws(conn: Any) -> Any:
    raw = await conn.recv_bytes()
    check_shape(raw, RESPONSES_TYPES, KNOWN_RESPONSES_EXTRAS)
    return conn.parse_event(raw)


async def recv_response_ws_until(conn: Any, *last: str) -> list[Any]:
    events = [await recv_response_ws(conn)]
    while events[-1].type not in last:
        events.append(await recv_response_ws(conn))
    return events
