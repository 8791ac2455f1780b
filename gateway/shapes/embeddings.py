"""Embeddings (``POST /v1/embeddings``) and moderations (``POST /v1/moderations``).

Both are input-only calls. An embeddings request may carry up to 2048
inputs, each up to the model's context window, so its bound is the body's
size (a token is at least one byte, and a token id at least one digit and a
comma), not capped by the window the way a single prompt is. Moderations are
free upstream; they are still admitted (rate limits hold) and recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.config.runtime import Model, Policy
from gateway.errors import BadRequest
from gateway.metering.usage import Usage
from gateway.policy.request import Applied
from gateway.quota.bound import Sizing
from gateway.shapes.endpoint import CreateRequest, Endpoint, model_and_stream, untouched

DEFAULT_MODERATION_MODEL = "omni-moderation-latest"


def _parse_embeddings(body: dict[str, Any]) -> CreateRequest:
    model, _ = model_and_stream(body)
    if "input" not in body:
        raise BadRequest("You must provide an input parameter.", param="input")
    return CreateRequest(model, stream=False)


def _parse_moderations(body: dict[str, Any]) -> CreateRequest:
    if "input" not in body:
        raise BadRequest("You must provide an input parameter.", param="input")
    model = body.setdefault("model", DEFAULT_MODERATION_MODEL)
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' must be a string.", param="model", code="invalid_type")
    return CreateRequest(model, stream=False)


def _no_rewrite(
    body: dict[str, Any], policy: Policy, model: Model, tenant: str, _: bool
) -> Applied:
    return untouched()


def _input_tokens(usage: Mapping[str, Any], _: Mapping[str, Any] | None) -> Usage:
    """``{"prompt_tokens", "total_tokens"}``: every token is uncached input."""
    tokens = usage.get("prompt_tokens")
    return Usage(input_tokens=tokens if isinstance(tokens, int) and tokens > 0 else 0)


def _bound(s: Sizing) -> int:
    return len(s.raw) * s.price.max_input


EMBEDDINGS = Endpoint(
    name="embeddings",
    family="embeddings",
    upstream_path="/embeddings",
    parse=_parse_embeddings,
    apply_policy=_no_rewrite,
    usage=_input_tokens,
    bound=_bound,
)
MODERATIONS = Endpoint(
    name="moderations",
    family="moderations",
    upstream_path="/moderations",
    parse=_parse_moderations,
    apply_policy=_no_rewrite,
    usage=_input_tokens,
    bound=_bound,
)
