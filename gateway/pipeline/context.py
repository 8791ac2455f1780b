"""Per-request state, gathered as a request moves through the pipeline, and request ids."""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass

_ID_PREFIX = "req_" + os.urandom(6).hex()
_ids = itertools.count(1)


GATEWAY_ID = b"x-gateway-request-id"


def own_answer_ids(request_id: str) -> list[tuple[bytes, bytes]]:
    """The id headers of an answer the gateway makes itself: with no upstream answer to
    carry OpenAI's ``x-request-id``, the gateway's own id stands in for it too."""
    rid = request_id.encode()
    return [(GATEWAY_ID, rid), (b"x-request-id", rid)]


def new_request_id() -> str:
    """Unique across processes (random prefix per process) and cheap (a counter)."""
    return f"{_ID_PREFIX}{next(_ids):012x}"


@dataclass(slots=True)
class RequestContext:
    """Per-request state, gathered as the request moves through the pipeline."""

    request_id: str
    method: str
    path: str
    started: float  # perf_counter
    wall_started: float = 0.0  # unix time
    endpoint: str = ""
    tenant: str | None = None
    subject: str | None = None
    service: str | None = None  # the service inside the tenant (`services:`), when configured
    model: str | None = None
    served_model: str | None = None
    rung: str | None = None  # the configured model (a route's rung) the answer came from
    route: str | None = None
    attempts: int = 0  # upstream attempts (retries and escalations included)
    escalations: tuple[str, ...] = ()  # "from>to:reason", as x-gateway-escalations says
    stream: bool = False
    background: bool = False  # a Responses `background` call: it runs on after its answer
    tags: str | None = None  # cost-attribution tags, canonical (`gateway.policy.tags`)
    status: int = 0
    error_code: str | None = None
    upstream_s: float | None = None
    response_id: str | None = None
    upstream_request_id: str | None = None  # OpenAI's x-request-id, for a ticket to OpenAI
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_nanos: int | None = None  # the latest attempt's
    spent_nanos: int = 0  # every attempt's, together
    ttft_s: float | None = None
    client_gone: bool = False
    truncated_by_cap: bool = False  # an output cap the gateway set or lowered ended the answer
    shadow_of: str | None = None  # a shadow call: the tenant whose call it copies

    @classmethod
    def start(
        cls, method: str, path: str, endpoint: str = "", request_id: str | None = None
    ) -> RequestContext:
        """A context timed from now."""
        return cls(
            request_id or new_request_id(),
            method,
            path,
            time.perf_counter(),
            time.time(),
            endpoint,
        )
