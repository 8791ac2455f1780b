"""What differs between endpoint families, as data: the pipeline is written once for all.

An :class:`Endpoint` says where a request keeps its model and stream flag,
which object ids it names (each must be the caller's) and which its answer
creates, how the tenant's policy rewrites it, how its cost is bounded before
it goes upstream, how usage is read from an answer (a JSON body, an SSE
stream through a tap, a socket's terminal event), how an answer's quality is
judged for escalation, and how an error is said inside one of its streams.
Adding an endpoint family is one of these, one route line, and tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from gateway.config.runtime import Model, Policy
from gateway.errors import BadRequest, GatewayError
from gateway.metering.usage import Usage
from gateway.policy.request import Applied
from gateway.pricing import ModelPrice
from gateway.quota.bound import Sizing, admission_bound
from gateway.shapes.refs import Kind, Ref
from gateway.shapes.sse import StreamFacts

if TYPE_CHECKING:
    from gateway.auth.callers import Caller
    from gateway.config.runtime import RuntimeConfig


class Tap(Protocol):
    facts: StreamFacts
    strip_usage: bool

    def feed(self, chunk: bytes) -> None: ...
    def filter(self, chunk: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class CreateRequest:
    model: str
    stream: bool
    refs: tuple[Ref, ...] = ()  # the stored objects it names: each must be the caller's
    creates: Kind | None = None  # the kind of object its answer's id becomes, the caller's
    background: bool = False  # it runs on upstream after its answer (Responses `background`)


Parse = Callable[[dict[str, Any]], CreateRequest]
ApplyPolicy = Callable[[dict[str, Any], Policy, Model, str, bool], Applied]
ReadUsage = Callable[[Mapping[str, Any], Mapping[str, Any] | None], Usage]
Bound = Callable[[Sizing], int]
Judge = Callable[[dict[str, Any], dict[str, Any]], Iterator[str]]
Units = Callable[[dict[str, Any], Model, ModelPrice], Mapping[str, int]]
Estimate = Callable[[dict[str, Any], Model, ModelPrice], Usage]
Fetch = Callable[[str, str], Awaitable[bytes]]  # (upstream, path) -> a stored object's bytes


@dataclass(frozen=True, slots=True)
class Inspected:
    """What a request only names, read before it is planned (a batch's input file)."""

    request: CreateRequest
    detail: Any  # the endpoint's own reading, handed to its bound as `Sizing.detail`


Inspect = Callable[[dict[str, Any], "Caller", "RuntimeConfig", Fetch], Awaitable[Inspected]]


@dataclass(frozen=True, slots=True)
class Deferral:
    """A call whose answer is an object that runs on upstream (a batch): its bound stays
    charged until the object ends, then its usage is billed once (`gateway.deferred`)."""

    kind: str  # the pending charge's kind, and the object's
    path: str  # where the upstream answers the object: "/batches/{id}"
    terminal: frozenset[str]  # the object's `status` once nothing more runs
    tier: str | None  # the price tier its usage is billed at ("batch")
    # A field an object can only be held with, when not every one can (a response is held
    # only when `background`): others are not looked up when a client sees them end.
    only_if: str | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str  # the `endpoint` label of metrics, ledger rows and logs
    family: str  # what a tenant's `endpoints:` allow-list names
    upstream_path: str
    parse: Parse
    apply_policy: ApplyPolicy
    usage: ReadUsage  # from a usage object and the response that carried it
    bound: Bound = admission_bound  # the cost bound reserved before the call goes upstream
    # Families that stream over SSE: a tap (the flag strips a usage chunk the gateway asked
    # for) and how an error is said inside a started stream.
    new_tap: Callable[[bool], Tap] | None = None
    stream_error: Callable[[GatewayError], bytes] | None = None
    judge: Judge | None = None  # quality reasons an answer may escalate for (routes)
    # Units the request itself prices (characters to speak), by the model's price; and the
    # usage charged (marked estimated) when a successful answer reports none (audio bytes).
    units: Units | None = None
    estimate: Estimate | None = None
    form: bool = False  # a multipart upload, forwarded byte for byte (no policy rewrite)
    bytes_out: bool = False  # answers bytes (audio), passed through as they come
    # A call with no model, charged one fee from `tools:` in the price table (a container).
    fee: Callable[[dict[str, Any]], str] | None = None
    # A request whose model and cost are in what it names (a batch's input file): read
    # first, after the ids it names are found to be the caller's.
    inspect: Inspect | None = None
    model_in_body: bool = True  # the gateway sets the upstream model's name in the body
    defer: Deferral | None = None  # its answer runs on upstream: billed when it ends
    # A JSON answer from an upstream API other than the client's (`gateway.bridge`), as
    # the client's API says it; metering reads the upstream's own.
    to_client: Callable[[dict[str, Any]], dict[str, Any]] | None = None


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(
            f"We could not parse the JSON body of your request: {exc.msg}.", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    return body


def model_and_stream(body: dict[str, Any]) -> tuple[str, bool]:
    model = body.get("model")
    if model is None or model == "":  # worded as OpenAI words it, so clients match it
        raise BadRequest(
            "Missing required parameter: 'model'.",
            param="model",
            code="missing_required_parameter",
        )
    if not isinstance(model, str):
        raise BadRequest(
            f"Invalid type for 'model': expected a string, but got {_json_type(model)} instead.",
            param="model",
            code="invalid_type",
        )
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise BadRequest("'stream' must be a boolean.", param="stream", code="invalid_type")
    return model, bool(stream)


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a decimal", list: "an array"}
    return names.get(type(value), "an object")


def untouched(cap: int = 0, choices: int = 1) -> Applied:
    """A call the tenant's policy does not rewrite; ``cap`` bounds each of its ``choices``'
    output tokens."""
    return Applied(
        choices=choices,
        cap=cap,
        cap_action="kept",
        hosted_tools=frozenset(),
        max_tool_calls=None,
        changed=False,
        injected_usage=False,
    )
