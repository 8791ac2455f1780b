"""Images: ``POST /v1/images/generations`` (JSON), ``/edits`` and ``/variations`` (uploads).

GPT Image models are priced by tokens: the prompt's text tokens, the input
images' image tokens, and the output image tokens, which grow with size and
quality. No request field caps the output tokens of one image, so each
image is bounded by the model's ``max_output_tokens`` in the config (the
dearest size and quality it can produce) plus its partial images (100
output tokens each), and the call by ``n`` of them;
each input image by ``IMAGE_INPUT_TOKENS`` (an image's tokens do not grow
with its bytes). An image model without a price is refused, never free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.config.runtime import Model, Policy
from gateway.errors import BadRequest, PermissionDenied
from gateway.errors.wire import sse_responses
from gateway.metering.usage import Usage, _int, split_input
from gateway.policy.request import Applied
from gateway.quota.bound import Sizing, cost_bound
from gateway.shapes.endpoint import CreateRequest, Endpoint, Tap, untouched
from gateway.shapes.form import file_count
from gateway.shapes.sse import UsageEventTap

IMAGE_OUTPUT_TOKENS = 6_240  # a 1536x1024 image at high quality; a model's own limit wins
IMAGE_INPUT_TOKENS = 6_240  # bound per input image (high input fidelity, largest size)
PARTIAL_TOKENS = 100  # output tokens billed per partial image (`partial_images`)
DEFAULT_IMAGE_MODEL = "gpt-image-1"
MAX_IMAGES = 10


def _count(body: Mapping[str, Any]) -> int:
    n = body.get("n", 1)
    if isinstance(n, str) and n.isdigit():  # a form field
        n = int(n)
    if n is None:
        return 1
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_IMAGES:
        raise BadRequest(
            f"'n' must be an integer from 1 to {MAX_IMAGES}.", param="n", code="invalid_value"
        )
    return n


def _parse(body: dict[str, Any]) -> CreateRequest:
    model = body.get("model") or DEFAULT_IMAGE_MODEL
    if not isinstance(model, str):
        raise BadRequest("'model' must be a string.", param="model", code="invalid_type")
    _count(body)
    stream = body.get("stream") in (True, "true")
    return CreateRequest(model, stream)


def _policy(body: dict[str, Any], policy: Policy, model: Model, tenant: str, _: bool) -> Applied:
    n, most = _count(body), policy.images.max_per_request
    if n > most:
        raise PermissionDenied(
            f"Your tenant may ask for at most {most} images per call.",
            param="n",
            code="too_many_images",
        )
    per_image = (model.max_output_tokens or IMAGE_OUTPUT_TOKENS) + _partials(body) * PARTIAL_TOKENS
    return untouched(per_image, choices=n)


def _partials(body: Mapping[str, Any]) -> int:
    """Partial images streamed before each image: each is billed as more output tokens."""
    asked = body.get("partial_images")
    if isinstance(asked, str) and asked.isdigit():  # a form field
        asked = int(asked)
    return asked if isinstance(asked, int) and not isinstance(asked, bool) and asked > 0 else 0


def _bound(s: Sizing) -> int:
    text = sum(len(v.encode()) for v in s.body.values() if isinstance(v, str))  # token >= byte
    return cost_bound(
        s.price,
        input_tokens=text + file_count(s.body) * IMAGE_INPUT_TOKENS,
        output_tokens=s.applied.cap * s.applied.choices,
    )


def _usage(usage: Mapping[str, Any], _: Mapping[str, Any] | None) -> Usage:
    """``{input_tokens, input_tokens_details: {text_tokens, image_tokens}, output_tokens}``."""
    text_in, image_in = split_input(usage, "input_tokens_details", "image_tokens")
    return Usage(
        input_tokens=text_in,
        image_input_tokens=image_in,
        output_tokens=_int(usage, "output_tokens"),
    )


def _endpoint(name: str, path: str, *, form: bool) -> Endpoint:
    return Endpoint(
        name=name,
        family="images",
        upstream_path=path,
        parse=_parse,
        apply_policy=_policy,
        usage=_usage,
        bound=_bound,
        form=form,
        new_tap=_tap,  # partial images, then `image_generation.completed` with the usage
        stream_error=sse_responses,
    )


def _tap(strip_usage: bool) -> Tap:
    return UsageEventTap()


IMAGES_GENERATE = _endpoint("images.generations", "/images/generations", form=False)
IMAGES_EDIT = _endpoint("images.edits", "/images/edits", form=True)
IMAGES_VARIATION = _endpoint("images.variations", "/images/variations", form=True)
