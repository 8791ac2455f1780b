"""The Images API: ``POST /v1/images/generations`` (JSON), ``/edits`` (multipart; ``image``
or repeated ``image[]``, optional ``mask``) and ``/variations`` (multipart ``image``,
DALL·E 2 only). ``stream: true`` (gpt-image models) sends ``partial_images`` partial-image
events and then a completed event carrying the usage, as ``image_generation.*`` (or
``image_edit.*`` for edits) SSE events. image_plan.py has the sizes, formats and usage rules.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from fake_openai.encoding import sse
from fake_openai.image_plan import PNG_B64, ImagePlan, family, plan_images
from fake_openai.multipart import Part, read_form
from fake_openai.state import FakeState
from fake_openai.transport import read_payload, reply_json, reply_stream
from fake_openai.wire import ApiError, JsonObject, new_id

IMAGES_PATH = "/v1/images"


def images_response(plan: ImagePlan) -> JsonObject:
    """The ``ImagesResponse`` body for a plan answered whole."""
    data: list[JsonObject] = []
    for _ in range(plan.n):
        image: JsonObject = (
            {"b64_json": PNG_B64}
            if plan.response_format == "b64_json"
            else {"url": f"https://images.fake-openai.invalid/{new_id('img-', 12)}.png"}
        )
        if family(plan.model) == "dall-e-3":
            image["revised_prompt"] = plan.prompt
        data.append(image)
    body: JsonObject = {"created": int(time.time()), "data": data}
    if plan.token_priced:
        body.update(
            background="opaque",
            output_format="png",
            quality=plan.quality,
            size=plan.size,
            usage=plan.usage(),
        )
    return body


def image_events(plan: ImagePlan, prefix: str) -> list[JsonObject]:
    """The streamed events: each partial image, then the completed image with the usage."""
    common: JsonObject = {
        "b64_json": PNG_B64,
        "background": "opaque",
        "created_at": int(time.time()),
        "output_format": "png",
        "quality": plan.quality,
        "size": plan.size,
    }
    events: list[JsonObject] = [
        {"type": f"{prefix}.partial_image", **common, "partial_image_index": index}
        for index in range(plan.partial_images)
    ]
    events.append({"type": f"{prefix}.completed", **common, "usage": plan.usage()})
    return events


class ImagesApi:
    """The image routes."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(IMAGES_PATH + "/generations", self._generate)
        router.add_post(IMAGES_PATH + "/edits", self._edit)
        router.add_post(IMAGES_PATH + "/variations", self._vary)

    async def _answer(
        self, request: web.Request, plan: ImagePlan, prefix: str
    ) -> web.StreamResponse:
        if not plan.stream:
            return await reply_json(self._state, request, images_response(plan))
        frames = [sse(event, named=True) for event in image_events(plan, prefix)]
        return await reply_stream(self._state, request, frames)

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        payload = await read_payload(request)
        plan = plan_images(payload, "dall-e-2", input_images=0, needs_prompt=True)
        return await self._answer(request, plan, "image_generation")

    async def _edit(self, request: web.Request) -> web.StreamResponse:
        form = await read_form(request)
        images = form.all("image", "image[]")
        if not images:
            form.require_file("image")
        fields = _text_fields(form.parts)
        default = "gpt-image-1" if len(images) > 1 else "dall-e-2"
        inputs = len(images) + len(form.all("mask"))
        plan = plan_images(fields, default, input_images=inputs, needs_prompt=True)
        if family(plan.model) == "dall-e-3":
            raise ApiError(400, "Image editing is not supported for dall-e-3.", param="model")
        return await self._answer(request, plan, "image_edit")

    async def _vary(self, request: web.Request) -> web.StreamResponse:
        form = await read_form(request)
        form.require_file("image")
        fields = _text_fields(form.parts)
        plan = plan_images(fields, "dall-e-2", input_images=1, needs_prompt=False)
        if family(plan.model) != "dall-e-2":
            raise ApiError(400, "Image variations are only supported for dall-e-2.", param="model")
        return await self._answer(request, plan, "image_variation")


def _text_fields(parts: list[Part]) -> dict[str, Any]:
    return {part.name: part.text for part in parts if part.filename is None}
