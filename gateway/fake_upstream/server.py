"""A fake OpenAI API server speaking the Responses and Chat Completions wire formats.

The gateway is tested against this instead of api.openai.com, so everything here aims at
wire fidelity (field names, event order, SSE framing, error shapes, headers) and at
determinism: the same request always produces the same text and the same token counts,
which lets tests assert exact metering figures. See /work/shared/OPENAI-WIRE.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import random
import re
import secrets
import string
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import orjson
from aiohttp import web

from gateway.fake_upstream.faults import Fault

if TYPE_CHECKING:
    from gateway.fake_upstream.realtime import FakeRealtime

JsonObject = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MODELS: tuple[str, ...] = (
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4o",
    "gpt-4o-mini",
    "o4-mini",
)
"""Models listed by ``GET /v1/models``; any model name is still accepted on create calls."""

ANSWER_PREFIX: tuple[str, ...] = ("Fake", "answer:")
MAX_ECHO_WORDS = 24
"""Input words echoed after the prefix; enough for realistic ``max_output_tokens`` to bite."""
REASONING_TOKENS = 4

RATE_LIMIT_REQUESTS = 10_000
RATE_LIMIT_TOKENS = 30_000_000

_START_KEY = web.RequestKey("fake_openai_start", float)
_FAULT_KEY = web.RequestKey("fake_openai_fault", Fault)
_BODY_TOKENS_KEY = web.RequestKey("fake_openai_body_tokens", int)

_OBFUSCATION_ALPHABET = string.ascii_letters + string.digits
_DELTA = re.compile(r"\s*\S+|\s+\Z")
"""One delta (= one output token): a word with the whitespace before it, or trailing space."""

AnswerKind = Literal["text", "refusal", "function_call"]


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


class ApiError(Exception):
    """An error the handlers turn into OpenAI's ``{"error": {...}}`` body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code

    def body(self) -> JsonObject:
        """Render the wire shape the SDK unwraps into ``APIStatusError.body``."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


@dataclass
class _Generation:
    """The output tokens one answer consumes, after applying the caller's cap."""

    reasoning_tokens: int
    deltas: list[str]
    """The visible answer (text, refusal or call arguments), one delta per output token."""
    truncated: bool
    """Cut short by the request's output cap."""
    kind: AnswerKind = "text"
    function_name: str | None = None
    """For ``kind == "function_call"``: the function called; ``text`` holds the arguments."""
    forced_incomplete: bool = False
    """Reported as cut at the cap although it was not (``Fault.incomplete``)."""

    @property
    def output_tokens(self) -> int:
        return self.reasoning_tokens + len(self.deltas)

    @property
    def text(self) -> str:
        return "".join(self.deltas)

    @property
    def incomplete(self) -> bool:
        return self.truncated or self.forced_incomplete

    @property
    def visible(self) -> bool:
        """Whether any visible item is produced; a cap spent on reasoning leaves none."""
        return bool(self.deltas) or not self.truncated


@dataclass
class _StoredResponse:
    """A response kept for GET/DELETE/cancel/input_items and ``previous_response_id``."""

    obj: JsonObject
    input_items: list[JsonObject]
    context: list[str]
    """Texts the next turn inherits (this turn's context, input and output), for token counts."""
    final: JsonObject | None = None
    """For background responses: the object they turn into once finished."""


@dataclass
class _Prompt:
    """The text of a request, kept in parts so that prefix caching can compare whole parts."""

    parts: list[str] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return max(1, sum(len(part.encode()) for part in self.parts) // 4)


def is_reasoning_model(model: str) -> bool:
    """Say whether ``model`` bills reasoning tokens (o-series and gpt-5 family)."""
    return model.startswith("o") or model.startswith("gpt-5")


def answer_words(source_text: str) -> list[str]:
    """Produce the deterministic answer for an input, one word per output token."""
    return [*ANSWER_PREFIX, *source_text.split()[:MAX_ECHO_WORDS]]


def split_deltas(text: str) -> list[str]:
    """Split text into stream deltas, one per output token, that join back to ``text`` exactly.

    Each delta is a word with the whitespace before it (like real BPE tokens); whitespace after
    the last word is one more delta.
    """
    return _DELTA.findall(text)


def _plan_generation(
    model: str, source_text: str, limit: int | None, fault: Fault | None = None
) -> _Generation:
    kind: AnswerKind = "text"
    name: str | None = None
    if fault is not None and fault.refusal is not None:
        kind, deltas = "refusal", split_deltas(fault.refusal)
    elif fault is not None and fault.function_call is not None:
        kind, (name, arguments) = "function_call", fault.function_call
        deltas = split_deltas(arguments)
    elif fault is not None and fault.output_text is not None:
        deltas = split_deltas(fault.output_text)
    else:
        deltas = split_deltas(" ".join(answer_words(source_text)))
    forced = fault is not None and fault.incomplete
    # Reasoning is spent before visible text, so a tight cap eats the answer first.
    reasoning = REASONING_TOKENS if is_reasoning_model(model) else 0
    truncated = limit is not None and limit < reasoning + len(deltas)
    if limit is not None and truncated:
        reasoning = min(reasoning, limit)
        deltas = deltas[: limit - reasoning]
    return _Generation(reasoning, deltas, truncated, kind, name, forced)


def _new_id(prefix: str, nbytes: int = 24) -> str:
    return f"{prefix}{secrets.token_hex(nbytes)}"


def _obfuscation() -> str:
    return "".join(random.choices(_OBFUSCATION_ALPHABET, k=random.randint(2, 16)))


def go_duration(seconds: float) -> str:
    """Format a duration like Go's ``time.Duration`` (``6ms``, ``1.5s``, ``6m0s``).

    OpenAI's ``x-ratelimit-reset-*`` headers use this format; clients must not read epochs.
    """
    millis = round(seconds * 1000)
    if millis <= 0:
        return "0s"
    if seconds < 1:
        return f"{millis}ms"
    if seconds < 60:
        text = f"{seconds:.3f}".rstrip("0").rstrip(".")
        return f"{text}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs}s"


def mask_key(key: str) -> str:
    """Mask a key the way OpenAI echoes it in 401 messages, never revealing it whole."""
    if len(key) <= 10:
        return "*****"
    return f"{key[:3]}*****{key[-4:]}"


def _sse(event: JsonObject, *, named: bool) -> bytes:
    # Responses streams name each event; Chat streams are bare ``data:`` lines.
    data = orjson.dumps(event)
    if named:
        return b"event: " + str(event["type"]).encode() + b"\ndata: " + data + b"\n\n"
    return b"data: " + data + b"\n\n"


def _message_parts_text(content: Any) -> list[str]:
    """Pull the text out of a message ``content`` (string, or list of text-bearing parts)."""
    if isinstance(content, str):
        return [content]
    texts: list[str] = []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
    return texts


def _input_item_texts(item: JsonObject) -> list[str]:
    kind = item.get("type", "message")
    if kind == "message":
        return _message_parts_text(item.get("content"))
    if kind == "function_call_output" and isinstance(item.get("output"), str):
        return [item["output"]]
    if kind == "function_call" and isinstance(item.get("arguments"), str):
        return [item["arguments"]]
    return []


def _normalize_input(raw: Any) -> list[JsonObject]:
    """Turn a Responses ``input`` into stored input items, each with an id, as GET lists them."""
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [{"role": "user", "content": raw}]
    if not isinstance(raw, list):
        raise ApiError(
            400,
            "Invalid type for 'input': expected one of a string or array of input items, "
            f"but got {type(raw).__name__} instead.",
            param="input",
            code="invalid_type",
        )
    items: list[JsonObject] = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise ApiError(
                400,
                f"Invalid type for 'input[{index}]': expected an input item object.",
                param=f"input[{index}]",
                code="invalid_type",
            )
        item = dict(entry)
        kind = item.setdefault("type", "message" if "role" in item else "item")
        if kind == "message":
            role = item.get("role", "user")
            content = item.get("content")
            if isinstance(content, str):
                part_type = "output_text" if role == "assistant" else "input_text"
                item["content"] = [{"type": part_type, "text": content}]
            elif not isinstance(content, list):
                raise ApiError(
                    400,
                    f"Invalid type for 'input[{index}].content': expected a string or an "
                    "array of content parts.",
                    param=f"input[{index}].content",
                    code="invalid_type",
                )
            item["role"] = role
            item.setdefault("status", "completed")
            item.setdefault("id", _new_id("msg_"))
        else:
            item.setdefault("id", _new_id("item_"))
        items.append(item)
    return items


def _optional_int(payload: JsonObject, name: str, *, minimum: int) -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(
            400,
            f"Invalid type for '{name}': expected an integer, but got "
            f"{type(value).__name__} instead.",
            param=name,
            code="invalid_type",
        )
    if value < minimum:
        raise ApiError(
            400,
            f"Invalid '{name}': integer below minimum value. Expected a value >= {minimum}, "
            f"but got {value} instead.",
            param=name,
            code="integer_below_min_value",
        )
    return value


def _require_model(payload: JsonObject) -> str:
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(
            400,
            "Missing required parameter: 'model'.",
            param="model",
            code="missing_required_parameter",
        )
    return model


def _echo_service_tier(requested: Any) -> str:
    # The API echoes the tier actually used: "auto" resolves to "default", "fast" is "priority".
    if requested in (None, "auto", "default"):
        return "default"
    if requested == "fast":
        return "priority"
    return str(requested)


def _body_model(body: bytes) -> str | None:
    """The ``model`` of a JSON request body, or None when there is no such thing."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    model = payload.get("model") if isinstance(payload, dict) else None
    return model if isinstance(model, str) else None


def _fault_error(status: int) -> ApiError:
    if status == 429:
        return ApiError(
            429,
            "Rate limit reached for requests per min (RPM): Limit 10000, Used 10000, "
            "Requested 1. Please try again in 6ms.",
            type_="requests",
            code="rate_limit_exceeded",
        )
    if status >= 500:
        return ApiError(
            status,
            "The server had an error while processing your request. Sorry about that!",
            type_="server_error",
        )
    return ApiError(status, f"Injected fault: HTTP {status}.")


class FakeOpenAI:
    """In-memory OpenAI upstream; one instance is one independent server with its own state.

    All state is touched only from the event loop that runs the app; ``FakeOpenAIServer``
    (runner.py) marshals calls from other threads onto that loop.
    """

    stall_s: float = 300.0
    """Upper bound on a stall, so a forgotten stalled request cannot hang a run forever."""

    def __init__(self, api_key: str | None = None, event_delay_s: float = 0.0) -> None:
        self.api_key = api_key
        self.event_delay_s = event_delay_s
        self.requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._responses: dict[str, _StoredResponse] = {}
        self._seen_prompts: dict[str, list[tuple[str, ...]]] = {}
        self._seen_cache_keys: set[tuple[str, str]] = set()
        self._system_fingerprint = _new_id("fp_", 5)
        self._runner: web.AppRunner | None = None
        self._shutdown: asyncio.Event | None = None
        self.realtime_events: list[tuple[str, JsonObject]] = []
        """Every Realtime client event received, as ``(session id, event)``, in arrival order."""
        self.responses_ws_events: list[tuple[str, JsonObject]] = []
        """Every Responses WebSocket client event, as ``(connection id, event)``."""
        self.hung_up: set[str] = set()
        """Ids of the Realtime calls ended by ``POST /v1/realtime/calls/{id}/hangup``."""
        # Imported here: realtime.py builds on this module's helpers.
        from gateway.fake_upstream.realtime import FakeRealtime

        self.realtime: FakeRealtime = FakeRealtime(self)
        """The Realtime, calls, client-secret and Responses-WebSocket endpoints (realtime.py)."""
        self.app: web.Application = self.make_app()

    # ------------------------------------------------------------------ public control API

    def make_app(self) -> web.Application:
        """Build the aiohttp application (also usable with aiohttp's own test client)."""
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024**2)
        app.on_response_prepare.append(self._add_standard_headers)
        app.router.add_post("/v1/responses", self._create_response)
        app.router.add_get("/v1/responses/{id}", self._get_response)
        app.router.add_delete("/v1/responses/{id}", self._delete_response)
        app.router.add_post("/v1/responses/{id}/cancel", self._cancel_response)
        app.router.add_get("/v1/responses/{id}/input_items", self._list_input_items)
        app.router.add_post("/v1/chat/completions", self._create_chat_completion)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/v1/models/{model}", self._get_model)
        self.realtime.add_routes(app)
        return app

    def inject(self, fault: Fault) -> None:
        """Queue a fault; faults are consumed first-in first-out by matching requests."""
        self._faults.append(fault)

    def clear(self) -> None:
        """Forget recorded requests and events, pending faults, stored responses, prompt-cache
        state, Realtime calls and client secrets (open sockets keep their sessions)."""
        self.requests.clear()
        self._faults.clear()
        self._responses.clear()
        self._seen_prompts.clear()
        self._seen_cache_keys.clear()
        self.realtime_events.clear()
        self.responses_ws_events.clear()
        self.hung_up.clear()
        self.realtime.clear()

    def call_respond(self, call_id: str, text: str = "", *, audio_seconds: float = 1.0) -> str:
        """Make a Realtime call answer as if its caller had just spoken; returns the response id.

        See ``FakeRealtime.call_respond`` (realtime.py) for the events its sideband sockets get.
        """
        return self.realtime.call_respond(call_id, text, audio_seconds=audio_seconds)

    def finish_background(self, response_id: str) -> JsonObject:
        """Complete a queued background response, as the real API eventually would.

        Lets gateway tests exercise polling until a terminal state (usage appears only then).
        """
        stored = self._responses.get(response_id)
        if stored is None or stored.final is None:
            raise KeyError(f"no background response {response_id!r}")
        if stored.obj["status"] in ("queued", "in_progress"):
            stored.obj = stored.final
        return stored.obj

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 picks a free port) and return the ``…/v1`` base URL."""
        if self._runner is not None:
            raise RuntimeError("FakeOpenAI is already started")
        self._shutdown = asyncio.Event()
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_port = runner.addresses[0][1] if runner.addresses else port
        return f"http://{host}:{bound_port}/v1"

    async def stop(self) -> None:
        """Stop serving; stalled requests are released and their connections dropped."""
        if self._shutdown is not None:
            self._shutdown.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # ------------------------------------------------------------------ plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        request[_START_KEY] = time.monotonic()
        body = await request.read()
        request[_BODY_TOKENS_KEY] = len(body) // 4
        # Record first: tests assert on what arrived even when the call then fails.
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query.items()),
                headers={name.lower(): value for name, value in request.headers.items()},
                body=body,
            )
        )
        fault = self._pop_fault(request.path, body, request.query.get("model"))
        if fault is not None:
            request[_FAULT_KEY] = fault
            if fault.delay_s:
                await asyncio.sleep(fault.delay_s)
            if fault.drop_connection:
                return self._drop(request, web.Response())
            if fault.status is not None or fault.body is not None:
                return self._fault_response(fault)
        try:
            self._check_auth(request)
            return await handler(request)
        except ApiError as exc:
            return await self._json(request, exc.body(), status=exc.status)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            error = ApiError(404, f"Invalid URL ({request.method} {request.path})")
            return await self._json(request, error.body(), status=404)

    def _pop_fault(self, path: str, body: bytes, query_model: str | None = None) -> Fault | None:
        """Take the first queued fault for ``path`` and the model of ``body``.

        Without a JSON body naming a model, ``query_model`` (a WebSocket upgrade's ``?model=``)
        is the model.
        """
        model: str | None = None
        parsed = False
        for index, fault in enumerate(self._faults):
            if fault.model is not None and not parsed:
                # Parsed only when a fault asks, so model-less faults cost nothing.
                model, parsed = _body_model(body) or query_model, True
            if fault.matches(path, model):
                return self._faults.pop(index)
        return None

    def _fault_response(self, fault: Fault) -> web.Response:
        status = fault.status if fault.status is not None else 200
        if fault.body is not None:
            body = fault.body
        elif status >= 400:
            body = orjson.dumps(_fault_error(status).body())
        else:
            body = b"{}"
        return web.Response(status=status, body=body, content_type="application/json")

    def _check_auth(self, request: web.Request) -> None:
        if self.api_key is None:
            return
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        presented = presented.strip() if scheme.lower() == "bearer" else ""
        if not presented:
            # Browsers cannot set headers on a Realtime socket; they offer the key as a
            # subprotocol instead.
            presented = self.realtime.subprotocol_key(request) or ""
        if not presented:
            raise ApiError(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), "
                "or as the password field (with blank username) if you're accessing the API "
                "from your browser and are prompted for a username and password. You can "
                "obtain an API key from https://platform.openai.com/account/api-keys.",
            )
        if hmac.compare_digest(presented.encode(), self.api_key.encode()):
            return
        if self.realtime.accepts_client_secret(request.path, presented):
            return
        raise ApiError(
            401,
            f"Incorrect API key provided: {mask_key(presented)}. You can find your API "
            "key at https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )

    async def _add_standard_headers(
        self, request: web.Request, response: web.StreamResponse
    ) -> None:
        started = request.get(_START_KEY)
        elapsed_ms = 0 if started is None else int((time.monotonic() - started) * 1000)
        used_tokens = request.get(_BODY_TOKENS_KEY, 0)
        headers = response.headers
        headers["x-request-id"] = _new_id("req_", 16)
        headers["openai-processing-ms"] = str(elapsed_ms)
        headers["openai-version"] = "2020-10-01"
        headers["openai-organization"] = "fake-org"
        headers["x-ratelimit-limit-requests"] = str(RATE_LIMIT_REQUESTS)
        headers["x-ratelimit-limit-tokens"] = str(RATE_LIMIT_TOKENS)
        headers["x-ratelimit-remaining-requests"] = str(RATE_LIMIT_REQUESTS - 1)
        headers["x-ratelimit-remaining-tokens"] = str(RATE_LIMIT_TOKENS - used_tokens)
        headers["x-ratelimit-reset-requests"] = go_duration(60 / RATE_LIMIT_REQUESTS)
        headers["x-ratelimit-reset-tokens"] = go_duration(used_tokens * 60 / RATE_LIMIT_TOKENS)
        fault = request.get(_FAULT_KEY)
        if fault is not None:
            headers.update(fault.headers)

    def _drop(self, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        # close() (FIN) rather than abort() (RST): bytes already written must still arrive,
        # and the client must then see the body end early. aiohttp's later attempt to write
        # to the closed transport is a ConnectionError it swallows, so no 500 goes out.
        transport = request.transport
        if transport is not None:
            transport.close()
        return response

    async def _stall(self) -> None:
        shutdown = self._shutdown
        if shutdown is None:
            await asyncio.sleep(self.stall_s)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(shutdown.wait(), timeout=self.stall_s)

    async def _json(
        self, request: web.Request, obj: Any, *, status: int = 200
    ) -> web.StreamResponse:
        fault = request.get(_FAULT_KEY)
        if fault is not None:
            if fault.stall_after_events is not None:
                await self._stall()
                return self._drop(request, web.Response())
            if fault.drop_after_events is not None:
                return self._drop(request, web.Response())
        return web.Response(status=status, body=orjson.dumps(obj), content_type="application/json")

    async def _stream(self, request: web.Request, events: list[bytes]) -> web.StreamResponse:
        fault = request.get(_FAULT_KEY)
        drop_after = fault.drop_after_events if fault is not None else None
        stall_after = fault.stall_after_events if fault is not None else None
        response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
            },
        )
        await response.prepare(request)
        for index, event in enumerate(events):
            if drop_after is not None and index >= drop_after:
                return self._drop(request, response)
            if stall_after is not None and index >= stall_after:
                await self._stall()
                return self._drop(request, response)
            if index and self.event_delay_s:
                await asyncio.sleep(self.event_delay_s)
            try:
                # One write per event, so each one is flushed to the client on its own.
                await response.write(event)
            except ConnectionError:
                # The client hung up mid-stream (a case gateway tests provoke on purpose);
                # that is not a server error worth a logged traceback.
                return response
        if drop_after is not None:
            return self._drop(request, response)
        if stall_after is not None:
            await self._stall()
            return self._drop(request, response)
        await response.write_eof()
        return response

    async def _payload(self, request: web.Request) -> JsonObject:
        body = await request.read()
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ApiError(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
                "payload, but what was sent was not valid JSON. If you have trouble figuring "
                "out how to fix this, please contact us through our help center at "
                "help.openai.com.)",
            ) from None
        if not isinstance(payload, dict):
            raise ApiError(
                400,
                f"Invalid type for request body: expected an object, but got "
                f"{type(payload).__name__} instead.",
                code="invalid_type",
            )
        return payload

    def _cached_tokens(self, model: str, cache_key: Any, prompt: _Prompt, input_tokens: int) -> int:
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

    # ------------------------------------------------------------------ Responses API

    async def _create_response(self, request: web.Request) -> web.StreamResponse:
        payload = await self._payload(request)
        final, returned = self.plan_response(payload, request.get(_FAULT_KEY))
        if not payload.get("stream"):
            return await self._json(request, returned)
        obfuscate = (payload.get("stream_options") or {}).get("include_obfuscation", True)
        return await self._stream(request, self._response_events(final, bool(obfuscate)))

    def plan_response(
        self, payload: JsonObject, fault: Fault | None
    ) -> tuple[JsonObject, JsonObject]:
        """Answer a ``POST /v1/responses`` body: ``(final object, object returned at once)``.

        They differ only for background requests (returned queued). Stores the response
        unless ``store`` is false. Shared by the HTTP route and the WebSocket mode.
        Raises ``ApiError`` for an invalid body.
        """
        model = _require_model(payload)
        input_items = _normalize_input(payload.get("input"))
        limit = _optional_int(payload, "max_output_tokens", minimum=1)
        instructions = payload.get("instructions")
        if instructions is not None and not isinstance(instructions, str):
            raise ApiError(
                400,
                "Invalid type for 'instructions': expected a string.",
                param="instructions",
                code="invalid_type",
            )
        previous_id = payload.get("previous_response_id")
        previous: _StoredResponse | None = None
        if previous_id is not None:
            previous = self._responses.get(previous_id) if isinstance(previous_id, str) else None
            if previous is None:
                raise ApiError(
                    400,
                    f"Previous response with id '{previous_id}' not found.",
                    param="previous_response_id",
                    code="previous_response_not_found",
                )

        input_texts = [text for item in input_items for text in _input_item_texts(item)]
        context = [*(previous.context if previous else []), *input_texts]
        prompt = _Prompt([*([instructions] if instructions else []), *context])
        input_tokens = prompt.tokens
        cached = self._cached_tokens(model, payload.get("prompt_cache_key"), prompt, input_tokens)
        generation = _plan_generation(model, " ".join(input_texts), limit, fault)

        output = self._response_output(payload, generation, " ".join(input_texts))
        usage = {
            "input_tokens": input_tokens,
            "input_tokens_details": {
                "cached_tokens": cached,
                "cache_write_tokens": 0,
                "cache_write_tokens_details": {"ttl_30m_tokens": 0, "ttl_12h_tokens": 0},
            },
            "output_tokens": generation.output_tokens,
            "output_tokens_details": {"reasoning_tokens": generation.reasoning_tokens},
            "total_tokens": input_tokens + generation.output_tokens,
        }
        created_at = int(time.time())
        final = self._response_object(
            _new_id("resp_"), payload, model, created_at, output, usage, generation.incomplete
        )
        background = bool(payload.get("background"))
        stream = bool(payload.get("stream"))
        store = payload.get("store", True) is not False
        returned = final
        if background and not stream:
            returned = {
                **final,
                "status": "queued",
                "output": [],
                "usage": None,
                "completed_at": None,
                "incomplete_details": None,
            }
            returned.pop("tool_usage", None)
        if store:
            # Stored before streaming: a stream cut short can still be settled with GET.
            self._responses[final["id"]] = _StoredResponse(
                obj=returned,
                input_items=input_items,
                context=[*context, generation.text],
                final=final if returned is not final else None,
            )
        return final, returned

    def _response_output(
        self, payload: JsonObject, generation: _Generation, source_text: str
    ) -> list[JsonObject]:
        output: list[JsonObject] = []
        if generation.reasoning_tokens:
            output.append({"id": _new_id("rs_"), "type": "reasoning", "summary": []})
        tools = payload.get("tools")
        if isinstance(tools, list) and any(_is_web_search_tool(tool) for tool in tools):
            output.append(
                {
                    "id": _new_id("ws_"),
                    "type": "web_search_call",
                    "status": "completed",
                    "action": {
                        "type": "search",
                        "query": " ".join(source_text.split()[:8]),
                        "sources": [],
                    },
                }
            )
        if not generation.visible:
            return output
        status = "incomplete" if generation.incomplete else "completed"
        if generation.kind == "function_call":
            output.append(
                {
                    "id": _new_id("fc_"),
                    "type": "function_call",
                    "status": status,
                    "call_id": _new_id("call_", 12),
                    "name": generation.function_name,
                    "arguments": generation.text,
                }
            )
            return output
        part: JsonObject = (
            {"type": "refusal", "refusal": generation.text}
            if generation.kind == "refusal"
            else {"type": "output_text", "text": generation.text, "annotations": [], "logprobs": []}
        )
        output.append(
            {
                "id": _new_id("msg_"),
                "type": "message",
                "status": status,
                "role": "assistant",
                "content": [part],
            }
        )
        return output

    def _response_object(
        self,
        response_id: str,
        payload: JsonObject,
        model: str,
        created_at: int,
        output: list[JsonObject],
        usage: JsonObject,
        truncated: bool,
    ) -> JsonObject:
        reasoning_default = (
            {"effort": "medium", "summary": None}
            if is_reasoning_model(model)
            else {"effort": None, "summary": None}
        )
        obj: JsonObject = {
            "id": response_id,
            "object": "response",
            "created_at": created_at,
            "status": "incomplete" if truncated else "completed",
            "background": bool(payload.get("background")),
            "completed_at": None if truncated else created_at,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if truncated else None,
            "instructions": payload.get("instructions"),
            "max_output_tokens": payload.get("max_output_tokens"),
            "max_tool_calls": payload.get("max_tool_calls"),
            "model": model,
            "output": output,
            "parallel_tool_calls": payload.get("parallel_tool_calls", True),
            "previous_response_id": payload.get("previous_response_id"),
            "prompt_cache_key": payload.get("prompt_cache_key"),
            "reasoning": payload.get("reasoning") or reasoning_default,
            "safety_identifier": payload.get("safety_identifier"),
            "service_tier": _echo_service_tier(payload.get("service_tier")),
            "store": payload.get("store", True) is not False,
            "temperature": payload.get("temperature", 1.0),
            "text": payload.get("text") or {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": payload.get("tool_choice", "auto"),
            "tools": payload.get("tools") or [],
            "top_logprobs": payload.get("top_logprobs", 0),
            "top_p": payload.get("top_p", 1.0),
            "truncation": payload.get("truncation", "disabled"),
            "usage": usage,
            "user": payload.get("user"),
            "metadata": payload.get("metadata") or {},
        }
        if any(item["type"] == "web_search_call" for item in output):
            obj["tool_usage"] = {"web_search": {"num_requests": 1}}
        return obj

    def _response_events(self, final: JsonObject, obfuscate: bool) -> list[bytes]:
        return [_sse(event, named=True) for event in self.response_event_objects(final, obfuscate)]

    def response_event_objects(self, final: JsonObject, obfuscate: bool) -> list[JsonObject]:
        """The stream events of a finished response, in order, numbered from 0.

        SSE frames each one as ``event:``/``data:``; the WebSocket mode sends each as one message.
        """
        events: list[JsonObject] = []

        def emit(event_type: str, **fields: Any) -> None:
            events.append({"type": event_type, "sequence_number": len(events), **fields})

        pending = {
            **final,
            "status": "in_progress",
            "output": [],
            "usage": None,
            "completed_at": None,
            "incomplete_details": None,
        }
        pending.pop("tool_usage", None)
        emit("response.created", response=pending)
        emit("response.in_progress", response=pending)
        for index, item in enumerate(final["output"]):
            if item["type"] == "message":
                self._emit_message(emit, index, item, obfuscate)
            elif item["type"] == "function_call":
                self._emit_function_call(emit, index, item, obfuscate)
            elif item["type"] == "web_search_call":
                emit(
                    "response.output_item.added",
                    output_index=index,
                    item={**item, "status": "in_progress", "action": {"type": "search"}},
                )
                for phase in ("in_progress", "searching", "completed"):
                    emit(
                        f"response.web_search_call.{phase}", output_index=index, item_id=item["id"]
                    )
                emit("response.output_item.done", output_index=index, item=item)
            else:
                emit("response.output_item.added", output_index=index, item=item)
                emit("response.output_item.done", output_index=index, item=item)
        terminal = (
            "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        )
        emit(terminal, response=final)
        return events

    @staticmethod
    def _emit_message(
        emit: Callable[..., None], index: int, item: JsonObject, obfuscate: bool
    ) -> None:
        part = item["content"][0]
        logprobs: JsonObject
        # A refusal streams like text, under its own event names and field.
        if part["type"] == "refusal":
            key, prefix, logprobs = "refusal", "response.refusal", {}
        else:
            key, prefix, logprobs = "text", "response.output_text", {"logprobs": []}
        text = part[key]
        where = {"item_id": item["id"], "output_index": index, "content_index": 0}
        emit(
            "response.output_item.added",
            output_index=index,
            item={**item, "status": "in_progress", "content": []},
        )
        emit("response.content_part.added", **where, part={**part, key: ""})
        for delta in split_deltas(text):
            extra = {"obfuscation": _obfuscation()} if obfuscate else {}
            emit(f"{prefix}.delta", **where, delta=delta, **logprobs, **extra)
        emit(f"{prefix}.done", **where, **{key: text}, **logprobs)
        emit("response.content_part.done", **where, part=part)
        emit("response.output_item.done", output_index=index, item=item)

    @staticmethod
    def _emit_function_call(
        emit: Callable[..., None], index: int, item: JsonObject, obfuscate: bool
    ) -> None:
        arguments = item["arguments"]
        where = {"item_id": item["id"], "output_index": index}
        emit(
            "response.output_item.added",
            output_index=index,
            item={**item, "status": "in_progress", "arguments": ""},
        )
        for delta in split_deltas(arguments):
            extra = {"obfuscation": _obfuscation()} if obfuscate else {}
            emit("response.function_call_arguments.delta", **where, delta=delta, **extra)
        emit("response.function_call_arguments.done", **where, arguments=arguments)
        emit("response.output_item.done", output_index=index, item=item)

    def _stored(self, request: web.Request) -> tuple[str, _StoredResponse]:
        response_id = request.match_info["id"]
        stored = self._responses.get(response_id)
        if stored is None:
            raise ApiError(404, f"No response found with id '{response_id}'.")
        return response_id, stored

    async def _get_response(self, request: web.Request) -> web.StreamResponse:
        _, stored = self._stored(request)
        return await self._json(request, stored.obj)

    async def _delete_response(self, request: web.Request) -> web.StreamResponse:
        response_id, _ = self._stored(request)
        del self._responses[response_id]
        return await self._json(
            request, {"id": response_id, "object": "response.deleted", "deleted": True}
        )

    async def _cancel_response(self, request: web.Request) -> web.StreamResponse:
        _, stored = self._stored(request)
        if not stored.obj.get("background"):
            raise ApiError(400, "Only responses created with background=true can be cancelled")
        status = stored.obj["status"]
        if status in ("queued", "in_progress"):
            stored.obj = {**stored.obj, "status": "cancelled"}
        elif status != "cancelled":
            raise ApiError(400, f"Cannot cancel a response with status '{status}'.")
        return await self._json(request, stored.obj)

    async def _list_input_items(self, request: web.Request) -> web.StreamResponse:
        _, stored = self._stored(request)
        query = request.query
        try:
            limit = int(query.get("limit", "20"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            raise ApiError(
                400,
                "Invalid 'limit': expected an integer between 1 and 100.",
                param="limit",
            )
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise ApiError(400, "Invalid 'order': expected one of 'asc' or 'desc'.", param="order")
        items = list(stored.input_items)
        if order == "desc":
            items.reverse()
        after = query.get("after")
        if after is not None:
            ids = [item["id"] for item in items]
            if after not in ids:
                raise ApiError(
                    400, f"Invalid 'after': no input item with id '{after}'.", param="after"
                )
            items = items[ids.index(after) + 1 :]
        page = items[:limit]
        return await self._json(
            request,
            {
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": len(items) > limit,
            },
        )

    # ------------------------------------------------------------------ Chat Completions

    async def _create_chat_completion(self, request: web.Request) -> web.StreamResponse:
        payload = await self._payload(request)
        model = _require_model(payload)
        messages = payload.get("messages")
        if messages is None:
            raise ApiError(
                400,
                "Missing required parameter: 'messages'.",
                param="messages",
                code="missing_required_parameter",
            )
        if not isinstance(messages, list) or not messages:
            raise ApiError(
                400,
                "Invalid 'messages': expected a non-empty array of messages.",
                param="messages",
                code="empty_array" if isinstance(messages, list) else "invalid_type",
            )
        prompt = _Prompt()
        last_user_text: str | None = None
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise ApiError(
                    400,
                    f"Invalid 'messages[{index}]': expected an object with a 'role'.",
                    param=f"messages[{index}]",
                    code="invalid_type",
                )
            texts = _message_parts_text(message.get("content"))
            prompt.parts.extend(texts)
            if message["role"] == "user":
                last_user_text = " ".join(texts)
        n = _optional_int(payload, "n", minimum=1) or 1
        limit = _optional_int(payload, "max_completion_tokens", minimum=1)
        if limit is None:
            limit = _optional_int(payload, "max_tokens", minimum=1)

        source = last_user_text if last_user_text is not None else " ".join(prompt.parts)
        generation = _plan_generation(model, source, limit, request.get(_FAULT_KEY))
        prompt_tokens = prompt.tokens
        cached = self._cached_tokens(model, payload.get("prompt_cache_key"), prompt, prompt_tokens)
        completion_tokens = n * generation.output_tokens
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": n * generation.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        if generation.incomplete:
            finish_reason = "length"
        elif generation.kind == "function_call":
            finish_reason = "tool_calls"
        else:
            finish_reason = "stop"
        call_ids = [_new_id("call_", 12) for _ in range(n)]
        base: JsonObject = {
            "id": _new_id("chatcmpl-", 15),
            "created": int(time.time()),
            "model": model,
            "service_tier": _echo_service_tier(payload.get("service_tier")),
            "system_fingerprint": self._system_fingerprint,
        }
        if not payload.get("stream"):
            completion = {
                **base,
                "object": "chat.completion",
                "choices": [
                    {
                        "index": index,
                        "message": self._chat_message(generation, call_ids[index]),
                        "logprobs": None,
                        "finish_reason": finish_reason,
                    }
                    for index in range(n)
                ],
                "usage": usage,
            }
            return await self._json(request, completion)

        options = payload.get("stream_options") or {}
        include_usage = bool(options.get("include_usage"))
        obfuscate = bool(options.get("include_obfuscation", True))
        deltas: list[tuple[int, JsonObject, str | None]] = []
        for index in range(n):
            deltas.extend(
                (index, delta, None) for delta in self._chat_deltas(generation, call_ids[index])
            )
        deltas.extend((index, {}, finish_reason) for index in range(n))
        chunks = [
            self._chat_chunk(
                base,
                [{"index": index, "delta": delta, "logprobs": None, "finish_reason": reason}],
                include_usage,
                None,
                obfuscate,
            )
            for index, delta, reason in deltas
        ]
        if include_usage:
            chunks.append(self._chat_chunk(base, [], include_usage, usage, obfuscate))
        events = [_sse(chunk, named=False) for chunk in chunks]
        events.append(b"data: [DONE]\n\n")
        return await self._stream(request, events)

    @staticmethod
    def _chat_message(generation: _Generation, call_id: str) -> JsonObject:
        message: JsonObject = {"role": "assistant", "content": None, "refusal": None}
        if generation.kind == "refusal":
            message["refusal"] = generation.text
        elif generation.kind == "function_call":
            message["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": generation.function_name, "arguments": generation.text},
                }
            ]
        else:
            message["content"] = generation.text
        message["annotations"] = []
        return message

    @staticmethod
    def _chat_deltas(generation: _Generation, call_id: str) -> list[JsonObject]:
        """The ``delta`` objects of one choice, before its ``finish_reason`` chunk."""
        if generation.kind == "refusal":
            first: JsonObject = {"role": "assistant", "content": None, "refusal": ""}
            return [first, *({"refusal": piece} for piece in generation.deltas)]
        if generation.kind == "function_call":
            call = {"index": 0, "id": call_id, "type": "function"}
            first = {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [
                    {**call, "function": {"name": generation.function_name, "arguments": ""}}
                ],
            }
            return [
                first,
                *(
                    {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
                    for piece in generation.deltas
                ),
            ]
        first = {"role": "assistant", "content": "", "refusal": None}
        return [first, *({"content": piece} for piece in generation.deltas)]

    @staticmethod
    def _chat_chunk(
        base: JsonObject,
        choices: list[JsonObject],
        include_usage: bool,
        usage: JsonObject | None,
        obfuscate: bool,
    ) -> JsonObject:
        chunk: JsonObject = {**base, "object": "chat.completion.chunk", "choices": choices}
        if include_usage:
            chunk["usage"] = usage
        if obfuscate:
            chunk["obfuscation"] = _obfuscation()
        return chunk

    # ------------------------------------------------------------------ Models

    @staticmethod
    def _model_object(model: str) -> JsonObject:
        # A fixed timestamp keeps the listing byte-identical between runs.
        return {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "openai"}

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        return await self._json(
            request, {"object": "list", "data": [self._model_object(m) for m in MODELS]}
        )

    async def _get_model(self, request: web.Request) -> web.StreamResponse:
        model = request.match_info["model"]
        if model not in MODELS:
            raise ApiError(
                404,
                f"The model '{model}' does not exist or you do not have access to it.",
                code="model_not_found",
            )
        return await self._json(request, self._model_object(model))


def _is_web_search_tool(tool: Any) -> bool:
    return isinstance(tool, dict) and str(tool.get("type", "")).startswith("web_search")
