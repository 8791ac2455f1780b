"""Fault descriptions that tests queue on the fake upstream.

A fault is plain data so that tests can build one on any thread and hand it to the server;
the server interprets it (see ``FakeOpenAI.inject``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Fault:
    """One misbehaviour, consumed by the first request that ``path`` and ``model`` both match.

    Faults that do not match a request stay queued, in order, for later requests.

    Several fields may be combined: ``delay_s`` always applies first; then ``drop_connection``,
    then ``status``/``body``; otherwise the request is served normally, with ``headers`` added and
    the ``*_after_events`` limits applied to the response as it is sent.

    The answer fields (``output_text``, ``refusal``, ``function_call``, ``incomplete``) script
    the content of a successful answer from ``POST /v1/responses`` or
    ``POST /v1/chat/completions``, in JSON and in streams alike, and over the Responses
    WebSocket; Realtime responses honour ``output_text`` and ``incomplete``; other endpoints
    ignore them.

    WebSocket endpoints (``GET /v1/realtime``, ``GET /v1/responses``): a fault is taken either
    by the upgrade (``delay_s`` delays the handshake; ``status``, ``body`` and
    ``drop_connection`` refuse it; the other fields carry over to the first response on that
    socket) or, when queued after the socket opened, by the next response, for which
    ``status`` becomes an ``error`` event, ``body`` one raw text message, and the
    ``*_after_events`` limits count that response's events. ``drop_after_events`` then closes
    the TCP connection without a close frame. On the Realtime socket a ``response.cancel``
    ends a ``stall_after_events`` stall. See ``fake_openai/README.md``.
    At most one of ``output_text``, ``refusal`` and ``function_call`` may be set. Whatever they
    produce is counted as output tokens by the fake's usual rule (one token per word, a word
    carrying the whitespace before it), on top of a reasoning model's reasoning tokens, and it
    is still cut by the request's output cap (``max_output_tokens``, ``max_completion_tokens``
    or ``max_tokens``) like any answer, which then becomes incomplete.
    """

    path: str | None = None
    """Exact request path (``/v1/responses``); None matches any request."""

    model: str | None = None
    """Only match requests whose JSON body has exactly this ``model``; None matches any model.

    Requests without a JSON body naming a model (``GET /v1/models``, a malformed body) never
    match a fault that sets it. Lets a test fail one model's answer and not the next one's.
    A WebSocket upgrade matches on its ``?model=`` query, a Realtime response on its session's
    model and a Responses-socket ``response.create`` on the model it names.
    """

    body_contains: str | None = None
    """Only match requests whose raw body contains this text; None matches any body.

    Lets a test script a follow-up that differs from the first try (a JSON repair
    instruction) while faults for other requests stay queued.
    """

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

    On a non-streaming JSON request the server hangs before sending headers; a byte answer
    (a file's content, speech audio) sends its headers and first half, then hangs. A stall
    ends (and the connection is dropped) when the server stops or ``FakeOpenAI.stall_s``
    elapses.
    """

    output_text: str | None = None
    """The answer's text is exactly this string instead of the deterministic echo.

    Responses: the ``output_text`` part of the ``message`` item; Chat:
    ``choices[i].message.content``. Streams split it into one delta per word (leading
    whitespace kept on each), so the deltas join back to exactly this string.
    """

    refusal: str | None = None
    """The answer is a refusal with this text instead of an answer.

    Responses: the ``message`` item holds one ``{"type": "refusal", "refusal": text}`` part,
    streamed with ``response.refusal.delta``/``.done``. Chat: ``message.refusal`` is the text and
    ``message.content`` is null; stream deltas carry ``refusal``.
    """

    function_call: tuple[str, str] | None = None
    """The answer is a call of the function ``(name, arguments)``; arguments are sent verbatim.

    The arguments string need not be valid JSON, so tests can script broken calls. Responses:
    one ``function_call`` item (``fc_…`` id, ``call_…`` call_id) and no ``message`` item,
    streamed with ``response.function_call_arguments.delta``/``.done``. Chat:
    ``message.tool_calls`` holds one ``function`` call, ``content`` is null and
    ``finish_reason`` is ``"tool_calls"``.
    """

    delta_chars: int | None = None
    """Streams: cut the answer into deltas of this many characters instead of one per word,
    so a test can see a word (a placeholder) split across events; each delta is one token."""

    incomplete: bool = False
    """Report the answer as cut at the output cap, whatever ``max_output_tokens`` says.

    Responses: ``status: "incomplete"``, ``incomplete_details: {"reason": "max_output_tokens"}``
    (and a ``response.incomplete`` terminal event); Chat: ``finish_reason: "length"``. The text
    itself is not shortened.
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
        if self.model is not None and not self.model:
            raise ValueError("model must be a non-empty string or None")
        answers = [
            name
            for name in ("output_text", "refusal", "function_call")
            if getattr(self, name) is not None
        ]
        if len(answers) > 1:
            raise ValueError(f"only one of {', '.join(answers)} may be set")
        if self.function_call is not None:
            call = self.function_call
            if (
                not isinstance(call, tuple)
                or len(call) != 2
                or not all(isinstance(value, str) for value in call)
                or not call[0]
            ):
                raise ValueError(
                    f"function_call must be a (name, arguments) pair of strings, got {call!r}"
                )

    def matches(self, path: str, model: str | None = None, body: bytes = b"") -> bool:
        """Tell whether this fault is meant for a request to ``path`` for ``model``."""
        if self.path is not None and self.path != path:
            return False
        if self.body_contains is not None and self.body_contains.encode() not in body:
            return False
        return self.model is None or self.model == model
