"""Run a ``FakeOpenAI`` on its own thread and event loop, for synchronous tests.

The official SDK's sync client and a sync gateway test cannot share an event loop with the
fake, so the fake gets a private loop; every call that touches its state is marshalled onto
that loop, which keeps ``FakeOpenAI`` free of locks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from fake_openai.app import FakeOpenAI
from fake_openai.billing import Billed
from fake_openai.faults import Fault
from fake_openai.state import RecordedRequest

_T = TypeVar("_T")

_START_TIMEOUT_S = 10.0


class FakeOpenAIServer:
    """Context manager serving a ``FakeOpenAI`` on 127.0.0.1 from a background thread."""

    def __init__(
        self,
        api_key: str | None = None,
        event_delay_s: float = 0.0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.fake = FakeOpenAI(api_key=api_key, event_delay_s=event_delay_s)
        self.base_url = ""
        """``http://host:port/v1``; empty until the server has started."""
        self._host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FakeOpenAIServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> str:
        """Start the loop thread and the server; returns the base URL."""
        if self._thread is not None:
            raise RuntimeError("FakeOpenAIServer is already started")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=self._run_loop, args=(loop,), name="fake-openai", daemon=True
        )
        thread.start()
        self._loop, self._thread = loop, thread
        future = asyncio.run_coroutine_threadsafe(self.fake.start(self._host, self._port), loop)
        try:
            self.base_url = future.result(timeout=_START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        return self.base_url

    def stop(self) -> None:
        """Stop the server, release stalled requests and join the thread. Idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self.fake.stop(), loop).result(
                timeout=_START_TIMEOUT_S
            )
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=_START_TIMEOUT_S)
            self._loop = self._thread = None

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            # Cancel whatever is left (e.g. handlers of connections still open) before closing.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _call(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run ``fn`` on the server's loop and wait, so state is only touched there."""
        loop = self._loop
        if loop is None or not loop.is_running():
            return fn(*args)
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=_START_TIMEOUT_S)

    def inject(self, fault: Fault) -> None:
        """Queue a fault for the next matching request (thread-safe)."""
        self._call(self.fake.inject, fault)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, in order (thread-safe)."""
        return self._call(lambda: list(self.fake.requests))

    def clear(self) -> None:
        """Forget requests, faults and stored objects (thread-safe)."""
        self._call(self.fake.clear)

    def finish_background(self, response_id: str) -> dict[str, Any]:
        """Complete a queued background response (thread-safe); returns the final object."""
        return self._call(self.fake.finish_background, response_id)

    def finish_batch(self, batch_id: str) -> dict[str, Any]:
        """Run a waiting batch to its end (thread-safe); returns the batch object."""
        return self._call(self.fake.finish_batch, batch_id)

    @property
    def billed(self) -> list[Billed]:
        """A snapshot of what the fake would bill so far, one entry per call (thread-safe)."""
        return self._call(lambda: list(self.fake.billed))

    @property
    def realtime_events(self) -> list[tuple[str, dict[str, Any]]]:
        """A snapshot of the Realtime client events received, as ``(session id, event)``."""
        return self._call(lambda: list(self.fake.realtime_events))

    @property
    def responses_ws_events(self) -> list[tuple[str, dict[str, Any]]]:
        """A snapshot of the Responses WebSocket client events, as ``(connection id, event)``."""
        return self._call(lambda: list(self.fake.responses_ws_events))

    @property
    def hung_up(self) -> set[str]:
        """A snapshot of the ids of the Realtime calls that were hung up (thread-safe)."""
        return self._call(lambda: set(self.fake.hung_up))

    def call_respond(self, call_id: str, text: str = "", *, audio_seconds: float = 1.0) -> str:
        """Make a Realtime call answer as if its caller spoke (thread-safe); returns the
        response id. Its sideband sockets get the events (see ``FakeOpenAI.call_respond``)."""
        return self._call(
            lambda: self.fake.call_respond(call_id, text, audio_seconds=audio_seconds)
        )
