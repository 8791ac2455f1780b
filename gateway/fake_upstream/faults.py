"""Fault descriptions that tests queue on the fake upstream.

A fault is plain data so that tests can build one on any thread and hand it to the server;
the server interprets it (see ``FakeOpenAI.inject``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Fault:
    """One misbehaviour, consumed by the first request whose path matches.

    Several fields may be combined: ``delay_s`` always applies first; then ``drop_connection``,
    then ``status``/``body``; otherwise the request is served normally, with ``headers`` added and
    the ``*_after_events`` limits applied to the response as it is sent.
    """

    path: str | None = None
    """Exact request path (``/v1/responses``); None matches any request."""

    status: int | None = None
    """Answer with this status and an OpenAI-shaped error body (or ``body`` if given)."""

    body: bytes | None = None
    """Raw body sent instead of the default error body, to test non-OpenAI or malformed bodies.

    Without ``status`` it is sent with 200, so a test can fake a successful but broken answer.
    """

    headers: dict[str, str] = field(default_factory=dict)
    """Extra response headers (e.g. ``Retry-After``), added to whatever response is sent."""

    delay_s: float = 0.0
    """Seconds to wait before anything is sent, to exercise client and gateway timeouts."""

    drop_connection: bool = False
    """Close the TCP connection without sending a single byte of response."""

    drop_after_events: int | None = None
    """Streams: send this many events, then cut the connection with no terminal event.

    On a non-streaming request the connection is dropped before any response is sent.
    """

    stall_after_events: int | None = None
    """Streams: send this many events, then hang with the connection open.

    On a non-streaming request the server hangs before sending headers. A stall ends (and the
    connection is dropped) when the server stops or ``FakeOpenAI.stall_s`` elapses.
    """

    def __post_init__(self) -> None:
        # Reject nonsense early, at the test line that built it, not deep in a handler.
        for name in ("drop_after_events", "stall_after_events"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if self.delay_s < 0:
            raise ValueError(f"delay_s must be >= 0, got {self.delay_s}")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status code, got {self.status}")
        if self.path is not None and not self.path.startswith("/"):
            raise ValueError(f"path must start with '/', got {self.path!r}")

    def matches(self, path: str) -> bool:
        """Tell whether this fault is meant for a request to ``path``."""
        return self.path is None or self.path == path
