"""``POST /v1/embeddings``: one deterministic unit vector per input.

The vector is drawn from a generator seeded with the model and the input, so the same input
always embeds the same way; it is rounded to float32 so the ``float`` and ``base64`` (packed
little-endian float32) encodings carry exactly the same numbers. Usage counts each text input
like a prompt (a quarter of its UTF-8 bytes, at least 1) and each token-id input by its length.
"""

from __future__ import annotations

import base64
import math
import random
import struct
from typing import Any

from aiohttp import web

from fake_openai.generation import Prompt
from fake_openai.params import optional_int, require_model
from fake_openai.state import FakeState
from fake_openai.transport import read_payload, reply_json
from fake_openai.wire import ApiError, JsonObject

EMBEDDINGS_PATH = "/v1/embeddings"
MAX_INPUTS = 2048


def default_dimensions(model: str) -> int:
    """The native width of ``model``'s vectors: 3072 for ``*-large``, else 1536."""
    return 3072 if model.endswith("-large") else 1536


def embedding_vector(model: str, key: str, dimensions: int) -> list[float]:
    """A unit vector of ``dimensions`` float32 values, a pure function of model and input."""
    rng = random.Random(f"{model}\x00{key}")
    raw = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(value * value for value in raw)) or 1.0
    packed = struct.pack(f"<{dimensions}f", *(value / norm for value in raw))
    return list(struct.unpack(f"<{dimensions}f", packed))


def split_inputs(raw: Any) -> list[str | list[int]]:
    """The inputs of a request: strings, or token-id lists; OpenAI's 400 for anything else."""
    if isinstance(raw, str):
        inputs: list[Any] = [raw]
    elif isinstance(raw, list) and raw and all(_is_token(entry) for entry in raw):
        inputs = [raw]
    elif isinstance(raw, list) and raw:
        inputs = raw
    else:
        inputs = []
    valid = all(
        (isinstance(entry, str) and entry)
        or (isinstance(entry, list) and entry and all(_is_token(t) for t in entry))
        for entry in inputs
    )
    if not inputs or not valid or len(inputs) > MAX_INPUTS:
        raise ApiError(
            400,
            "'$.input' is invalid. Please check the API reference: "
            "https://platform.openai.com/docs/api-reference.",
        )
    return inputs


def input_tokens(entry: str | list[int]) -> int:
    """Tokens one input costs: its length in ids, or the prompt rule for text."""
    return len(entry) if isinstance(entry, list) else Prompt([entry]).tokens


def create_embeddings(payload: JsonObject) -> JsonObject:
    """The ``list`` of ``embedding`` objects answering one request body."""
    model = require_model(payload)
    inputs = split_inputs(payload.get("input"))
    dimensions = optional_int(payload, "dimensions", minimum=1)
    if dimensions is not None and not model.startswith("text-embedding-3"):
        raise ApiError(
            400, "This model does not support specifying dimensions.", param="dimensions"
        )
    width = dimensions or default_dimensions(model)
    encoding = payload.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise ApiError(
            400,
            f"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'.",
            param="encoding_format",
            code="invalid_value",
        )
    data: list[JsonObject] = []
    for index, entry in enumerate(inputs):
        key = entry if isinstance(entry, str) else ",".join(map(str, entry))
        vector = embedding_vector(model, key, width)
        encoded: list[float] | str = vector
        if encoding == "base64":
            encoded = base64.b64encode(struct.pack(f"<{width}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(input_tokens(entry) for entry in inputs)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class EmbeddingsApi:
    """The embeddings route."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(EMBEDDINGS_PATH, self._create)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        payload = await read_payload(request)
        return await reply_json(self._state, request, create_embeddings(payload))
