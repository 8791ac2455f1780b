"""``POST /v1/moderations``: one result per text input (or one for a list of multimodal parts).

Deterministic: a text is flagged for violence (and harassment/threatening) exactly when it
contains the word "kill" in any case; every other score is a small fixed-looking number derived
from the text, so the same input always scores the same.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from aiohttp import web

from fake_openai.state import FakeState
from fake_openai.transport import read_payload, reply_json
from fake_openai.wire import ApiError, JsonObject, new_id

MODERATIONS_PATH = "/v1/moderations"
DEFAULT_MODEL = "omni-moderation-latest"
MODEL_SNAPSHOTS = {
    "omni-moderation-latest": "omni-moderation-2024-09-26",
    "text-moderation-latest": "text-moderation-007",
    "text-moderation-stable": "text-moderation-007",
}
"""The snapshot an alias answers with, as the API reports it."""

CATEGORIES: tuple[str, ...] = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
IMAGE_CATEGORIES = frozenset(
    {
        "self-harm",
        "self-harm/intent",
        "self-harm/instructions",
        "sexual",
        "violence",
        "violence/graphic",
    }
)
"""The categories omni models also score images for."""
FLAGGING_WORD = re.compile(r"\bkill", re.IGNORECASE)
FLAGGED_CATEGORIES = frozenset({"violence", "harassment/threatening"})
FLAGGED_SCORE = 0.93


def moderate(payload: JsonObject) -> JsonObject:
    """The ``modr-…`` object answering one request body."""
    model = payload.get("model") or DEFAULT_MODEL
    if not isinstance(model, str):
        raise ApiError(400, "Invalid type for 'model': expected a string.", param="model")
    groups = _input_groups(payload.get("input"))
    omni = model.startswith("omni-")
    if not omni and any(kinds != {"text"} for _, kinds in groups):
        raise ApiError(400, f"Model '{model}' does not support image inputs.", param="input")
    return {
        "id": new_id("modr-", 16),
        "model": MODEL_SNAPSHOTS.get(model, model),
        "results": [_result(text, kinds) for text, kinds in groups],
    }


def _input_groups(raw: Any) -> list[tuple[str, set[str]]]:
    """Each result's text and the input kinds it saw: one per string, one for all parts."""
    if isinstance(raw, str):
        return [(raw, {"text"})]
    if isinstance(raw, list) and raw and all(isinstance(entry, str) for entry in raw):
        return [(entry, {"text"}) for entry in raw]
    if isinstance(raw, list) and raw and all(isinstance(entry, dict) for entry in raw):
        texts: list[str] = []
        kinds: set[str] = set()
        for index, part in enumerate(raw):
            if part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
                kinds.add("text")
            elif part.get("type") == "image_url" and isinstance(part.get("image_url"), dict):
                kinds.add("image")
            else:
                raise ApiError(
                    400,
                    f"Invalid value for 'input[{index}]': expected a text or image_url part.",
                    param=f"input[{index}]",
                    code="invalid_value",
                )
        return [(" ".join(texts), kinds)]
    raise ApiError(
        400,
        "Invalid type for 'input': expected a string, an array of strings or an array of "
        "multimodal inputs.",
        param="input",
        code="invalid_type",
    )


def _result(text: str, kinds: set[str]) -> JsonObject:
    flagged = bool(FLAGGING_WORD.search(text))
    digest = hashlib.sha256(text.encode()).digest()
    scores: JsonObject = {}
    for index, category in enumerate(CATEGORIES):
        if flagged and category in FLAGGED_CATEGORIES:
            scores[category] = FLAGGED_SCORE
        else:
            # Below 0.001: low, stable and distinct per category.
            scores[category] = (digest[index] + 1) / 1_000_000
    applied = {
        category: sorted(kind for kind in kinds if kind == "text" or category in IMAGE_CATEGORIES)
        for category in CATEGORIES
    }
    return {
        "flagged": flagged,
        "categories": {
            category: flagged and category in FLAGGED_CATEGORIES for category in CATEGORIES
        },
        "category_scores": scores,
        "category_applied_input_types": applied,
    }


class ModerationsApi:
    """The moderations route."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(MODERATIONS_PATH, self._create)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        payload = await read_payload(request)
        return await reply_json(self._state, request, moderate(payload))
