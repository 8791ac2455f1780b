"""``FakeOpenAI``: one fake OpenAI server, composed of its shared state and one module per API.

The gateway is tested against this instead of the real API, so the fake aims at wire fidelity
(field names, event order, SSE framing, error shapes, headers) and at determinism: the same
request always produces the same text and token counts, which lets tests assert exact
metering figures. ``fake_openai/README.md`` describes what it serves.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from fake_openai.batches import BatchesApi, finish_batch
from fake_openai.billing import Billed
from fake_openai.calls import Calls
from fake_openai.chat import ChatApi
from fake_openai.chat_store import ChatStoreApi
from fake_openai.client_secrets import ClientSecretsApi
from fake_openai.containers import ContainersApi
from fake_openai.conversations import ConversationsApi
from fake_openai.embeddings import EmbeddingsApi
from fake_openai.faults import Fault
from fake_openai.files import FilesApi
from fake_openai.images import ImagesApi
from fake_openai.middleware import FrontDoor
from fake_openai.models import ModelsApi
from fake_openai.moderations import ModerationsApi
from fake_openai.realtime_events import ClientEvents
from fake_openai.realtime_responder import Responder
from fake_openai.realtime_socket import RealtimeApi
from fake_openai.responses import finish_background
from fake_openai.responses_extras import ResponsesExtrasApi
from fake_openai.responses_http import ResponsesApi
from fake_openai.responses_socket import ResponsesSocketApi
from fake_openai.sockets import SocketHub
from fake_openai.speech import SpeechApi
from fake_openai.state import FakeState, RecordedRequest
from fake_openai.transcription import TranscriptionApi
from fake_openai.uploads import UploadsApi
from fake_openai.vector_store_files import VectorStoreFilesApi
from fake_openai.vector_stores import VectorStoresApi
from fake_openai.wire import JsonObject


class FakeOpenAI:
    """In-memory OpenAI upstream; one instance is one independent server with its own state.

    All state is touched only from the event loop that runs the app; ``FakeOpenAIServer``
    (runner.py) marshals calls from other threads onto that loop.
    """

    def __init__(self, api_key: str | None = None, event_delay_s: float = 0.0) -> None:
        self.state = FakeState(api_key, event_delay_s)
        self._hub = SocketHub()
        self._responder = Responder(self.state, self._hub)
        self._calls = Calls(self.state, self._hub, self._responder)
        self._runner: web.AppRunner | None = None
        self.app: web.Application = self.make_app()

    @property
    def api_key(self) -> str | None:
        return self.state.api_key

    @property
    def event_delay_s(self) -> float:
        """Pause between streamed events, to make streaming visible."""
        return self.state.event_delay_s

    @event_delay_s.setter
    def event_delay_s(self, value: float) -> None:
        self.state.event_delay_s = value

    @property
    def stall_s(self) -> float:
        """Upper bound on a stall, so a forgotten stalled request cannot hang a run forever."""
        return self.state.stall_s

    @stall_s.setter
    def stall_s(self, value: float) -> None:
        self.state.stall_s = value

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in arrival order."""
        return self.state.requests

    @property
    def realtime_events(self) -> list[tuple[str, JsonObject]]:
        """Every Realtime client event received, as ``(session id, event)``, in arrival order."""
        return self.state.realtime_events

    @property
    def responses_ws_events(self) -> list[tuple[str, JsonObject]]:
        """Every Responses WebSocket client event, as ``(connection id, event)``."""
        return self.state.responses_ws_events

    @property
    def hung_up(self) -> set[str]:
        """Ids of the Realtime calls ended by ``POST /v1/realtime/calls/{id}/hangup``."""
        return self.state.hung_up

    @property
    def billed(self) -> list[Billed]:
        """What the fake would bill, one entry per call served, in order (billing.py)."""
        return self.state.billed

    def make_app(self) -> web.Application:
        """Build the aiohttp application (also usable with aiohttp's own test client)."""
        state, hub = self.state, self._hub
        front = FrontDoor(state)
        app = web.Application(middlewares=[front.middleware], client_max_size=64 * 1024**2)
        app.on_response_prepare.append(front.add_standard_headers)
        events = ClientEvents(state, self._responder)
        apis = (
            ResponsesApi(state),
            ChatApi(state),
            ModelsApi(state),
            RealtimeApi(state, hub, self._calls, events),
            self._calls,
            ClientSecretsApi(state),
            ResponsesSocketApi(state, hub),
            EmbeddingsApi(state),
            ModerationsApi(state),
            FilesApi(state),
            VectorStoresApi(state),
            VectorStoreFilesApi(state),
            ConversationsApi(state),
            ChatStoreApi(state),
            ResponsesExtrasApi(state),
            BatchesApi(state),
            UploadsApi(state),
            ContainersApi(state),
            ImagesApi(state),
            SpeechApi(state),
            TranscriptionApi(state),
        )
        for api in apis:
            api.add_routes(app.router)
        app.on_shutdown.append(hub.close_all)
        return app

    def inject(self, fault: Fault) -> None:
        """Queue a fault; faults are consumed first-in first-out by matching requests."""
        self.state.faults.append(fault)

    def clear(self) -> None:
        """Forget recorded requests and events, pending faults, stored responses and every
        other stored object (files, vector stores, conversations, batches, ...), prompt-cache
        state, Realtime calls and client secrets (open sockets keep their sessions)."""
        self.state.clear()
        self._calls.clear()

    def call_respond(self, call_id: str, text: str = "", *, audio_seconds: float = 1.0) -> str:
        """Make a Realtime call answer as if its caller had just spoken; returns the response id.

        See ``Calls.call_respond`` (calls.py) for the events its sideband sockets get.
        """
        return self._calls.call_respond(call_id, text, audio_seconds=audio_seconds)

    def finish_background(self, response_id: str) -> JsonObject:
        """Complete a queued background response, as the real API eventually would.

        Lets gateway tests exercise polling until a terminal state (usage appears only then).
        """
        return finish_background(self.state, response_id)

    def finish_batch(self, batch_id: str) -> JsonObject:
        """Run a waiting batch to its end, as the real API eventually would; returns it.

        Every JSONL line is answered by the fake's own Responses, Chat, Embeddings or
        Moderations answerer; see batches.py for the files, counts and usage it sets.
        """
        return finish_batch(self.state, batch_id)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 picks a free port) and return the ``…/v1`` base URL."""
        if self._runner is not None:
            raise RuntimeError("FakeOpenAI is already started")
        self.state.shutdown = asyncio.Event()
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_port = runner.addresses[0][1] if runner.addresses else port
        return f"http://{host}:{bound_port}/v1"

    async def stop(self) -> None:
        """Stop serving; stalled requests are released and their connections dropped."""
        if self.state.shutdown is not None:
            self.state.shutdown.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
