"""The state every endpoint of one fake shares: what arrived, the faults queued for what comes
next, stored responses, prompt-cache memory, the client secrets and what it would bill.

It is touched only from the event loop that serves the app, so it needs no locks;
``FakeOpenAIServer`` (runner.py) marshals calls from other threads onto that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import orjson

from fake_openai.billing import Billed
from fake_openai.credentials import SecretStore
from fake_openai.faults import Fault
from fake_openai.generation import Prompt
from fake_openai.stores import Stores
from fake_openai.wire import JsonObject, new_id


@dataclass(frozen=True)
class RecordedRequest:
    """A request exactly as it reached the fake, for assertions about what the gateway sent."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    """Header names lower-cased, so tests need not guess the client's casing."""
    body: bytes

    def json(self) -> Any:
        """Decode the body; raises ``orjson.JSONDecodeError`` if it is not JSON."""
        return orjson.loads(self.body)


@dataclass
class StoredResponse:
    """A response kept for GET/DELETE/cancel/input_items and ``previous_response_id``."""

    obj: JsonObject
    input_items: list[JsonObject]
    context: list[str]
    """Texts the next turn inherits (this turn's context, input and output), for token counts."""
    final: JsonObject | None = None
    """For background responses: the object they turn into once finished."""


def body_model(body: bytes) -> str | None:
    """The ``model`` of a JSON request body, or None when there is no such thing."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    model = payload.get("model") if isinstance(payload, dict) else None
    return model if isinstance(model, str) else None


class FakeState:
    """One fake's memory; ``clear`` forgets it all but the settings."""

    def __init__(self, api_key: str | None, event_delay_s: float) -> None:
        self.api_key = api_key
        self.event_delay_s = event_delay_s
        """Pause between streamed events, to make streaming visible."""
        self.stall_s = 300.0
        """Upper bound on a stall, so a forgotten stalled request cannot hang a run forever."""
        self.shutdown: asyncio.Event | None = None
        """Set when the server stops: stalled requests end then."""
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.responses: dict[str, StoredResponse] = {}
        self.secrets = SecretStore()
        self.stores = Stores()
        """Files, vector stores, conversations and the other families' objects."""
        self.realtime_events: list[tuple[str, JsonObject]] = []
        """Every Realtime client event received, as ``(session id, event)``, in arrival order."""
        self.responses_ws_events: list[tuple[str, JsonObject]] = []
        """Every Responses WebSocket client event, as ``(connection id, event)``."""
        self.hung_up: set[str] = set()
        """Ids of the Realtime calls ended by ``POST /v1/realtime/calls/{id}/hangup``."""
        self.billed: list[Billed] = []
        """What the fake would bill, one entry per call served, in order (billing.py)."""
        self.system_fingerprint = new_id("fp_", 5)
        self._seen_prompts: dict[str, list[tuple[str, ...]]] = {}
        self._seen_cache_keys: set[tuple[str, str]] = set()

    def clear(self) -> None:
        """Forget requests, events, faults, stored objects, prompt-cache memory, secrets and
        the billing record."""
        self.requests.clear()
        self.faults.clear()
        self.responses.clear()
        self._seen_prompts.clear()
        self._seen_cache_keys.clear()
        self.realtime_events.clear()
        self.responses_ws_events.clear()
        self.hung_up.clear()
        self.billed.clear()
        self.secrets.clear()
        self.stores.clear()

    def pop_fault(self, path: str, body: bytes, query_model: str | None = None) -> Fault | None:
        """Take the first queued fault for ``path`` and the model of ``body``.

        Without a JSON body naming a model, ``query_model`` (a WebSocket upgrade's ``?model=``)
        is the model.
        """
        model: str | None = None
        parsed = False
        for index, fault in enumerate(self.faults):
            if fault.model is not None and not parsed:
                # Parsed only when a fault asks, so model-less faults cost nothing.
                model, parsed = body_model(body) or query_model, True
            if fault.matches(path, model, body):
                return self.faults.pop(index)
        return None

    def cached_tokens(self, model: str, cache_key: Any, prompt: Prompt, input_tokens: int) -> int:
        """Simulate prompt caching: half the input is cached once its prefix was seen."""
        parts = tuple(prompt.parts)
        seen = self._seen_prompts.setdefault(model, [])
        hit = any(parts[: len(prior)] == prior for prior in seen if prior)
        if isinstance(cache_key, str) and cache_key:
            hit = hit or (model, cache_key) in self._seen_cache_keys
            self._seen_cache_keys.add((model, cache_key))
        if parts not in seen:
            seen.append(parts)
        return input_tokens // 2 if hit else 0

    async def stall(self) -> None:
        """Hang until the server stops or ``stall_s`` has passed."""
        shutdown = self.shutdown
        if shutdown is None:
            await asyncio.sleep(self.stall_s)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(shutdown.wait(), timeout=self.stall_s)
