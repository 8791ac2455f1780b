"""``GET /v1/models`` and ``GET /v1/models/{model}``: a fixed list, byte-identical every run."""

from __future__ import annotations

from aiohttp import web

from fake_openai.state import FakeState
from fake_openai.transport import reply_json
from fake_openai.wire import ApiError, JsonObject

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
"""Models listed by ``GET /v1/models``; Responses and Chat answer the wider ``params.TEXT_MODELS``
(a dated name as its model) and give any other OpenAI's 404 ``model_not_found``."""


def model_object(model: str) -> JsonObject:
    # A fixed timestamp keeps the listing byte-identical between runs.
    return {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "openai"}


class ModelsApi:
    """The model listing endpoints."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/v1/models", self._list_models)
        router.add_get("/v1/models/{model}", self._get_model)

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        return await reply_json(
            self._state, request, {"object": "list", "data": [model_object(m) for m in MODELS]}
        )

    async def _get_model(self, request: web.Request) -> web.StreamResponse:
        model = request.match_info["model"]
        if model not in MODELS:
            raise ApiError(
                404,
                f"The model '{model}' does not exist or you do not have access to it.",
                code="model_not_found",
            )
        return await reply_json(self._state, request, model_object(model))
