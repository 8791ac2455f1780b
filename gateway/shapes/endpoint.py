"""What differs between endpoint families, as data: the pipeline is written once for all.

An :class:`Endpoint` says where a request keeps its model and stream flag,
which object ids it names (each must be the caller's), how the tenant's
policy rewrites it, how its cost is bounded before it goes upstream, how
usage is read from an answer (a JSON body, an SSE stream through a tap, a
socket's terminal event), whether its answers create objects the tenant then
owns, how an answer's quality is judged for escalation, and how an error is
said inside one of its streams. Adding an endpoint family is one of these,
one route line, and tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from gateway.config.runtime import Model, Policy
from gateway.errors import BadRequest, GatewayError
from gateway.metering.usage import Usage
from gateway.policy.request import Applied
from gateway.pricing import ModelPrice, PriceTable
from gateway.quota.bound import admission_bound
from gateway.shapes.sse import StreamFacts


class Tap(Protocol):
    facts: StreamFacts
    strip_usage: bool

    def feed(self, chunk: bytes) -> None: ...
    def filter(self, chunk: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class CreateRequest:
    model: str
    stream: bool
    previous_response_id: str | None  # an object the request names: must be the caller's


Parse = Callable[[dict[str, Any]], CreateRequest]
ApplyPolicy = Callable[[dict[str, Any], Policy, Model, str, bool], Applied]
ReadUsage = Callable[[Mapping[str, Any], Mapping[str, Any] | None], Usage]
Bound = Callable[[bytes, Mapping[str, Any], Model, ModelPrice, Applied, PriceTable], int]
Judge = Callable[[dict[str, Any], dict[str, Any]], Iterator[str]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str  # the `endpoint` label of metrics, ledger rows and logs
    upstream_path: str
    parse: Parse
    apply_policy: ApplyPolicy
    usage: ReadUsage  # from a usage object and the response that carried it
    bound: Bound = admission_bound  # the cost bound reserved before the call goes upstream
    owns_created: bool = False  # the ids its answers create become the caller's
    # Families that stream over SSE: a tap (the flag strips a usage chunk the gateway asked
    # for) and how an error is said inside a started stream.
    new_tap: Callable[[bool], Tap] | None = None
    stream_error: Callable[[GatewayError], bytes] | None = None
    judge: Judge | None = None  # quality reasons an answer may escalate for (routes)


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
    if not isinstance(model, str) or not model:
        raise BadRequest("You must provide a model parameter.", param="model", code="missing_model")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise BadRequest("'stream' must be a boolean.", param="stream", code="invalid_type")
    return model, bool(stream)
