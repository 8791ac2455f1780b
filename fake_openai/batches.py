"""The Batch API: ``POST /v1/batches`` (``input_file_id``, ``endpoint``, ``completion_window``,
``metadata``), list, retrieve and ``POST /{id}/cancel``; ``FakeOpenAI.finish_batch`` runs it.

A batch waits in ``validating`` until a test finishes it (as ``finish_background`` does for
responses). Finishing answers every JSONL line with the fake's own answerers for the batch's
endpoint, writes the answers to an output file and failed lines to an error file (both purpose
``batch_output``), and sets ``request_counts`` and ``usage`` (summed over the answered lines:
Chat's prompt/completion tokens count as input/output). A cancelled batch is ``cancelling``
until finished, then ``cancelled`` with nothing run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from fake_openai.chat import plan_chat
from fake_openai.embeddings import create_embeddings
from fake_openai.files import add_file, stored_file
from fake_openai.listing import page
from fake_openai.moderations import moderate
from fake_openai.params import check_metadata
from fake_openai.responses import plan_response
from fake_openai.state import FakeState
from fake_openai.transport import read_payload, reply_json
from fake_openai.wire import ApiError, JsonObject, missing_parameter, new_id

BATCHES_PATH = "/v1/batches"
WINDOW_S = 24 * 3600

Answerer = Callable[[FakeState, JsonObject], JsonObject]
ANSWERERS: dict[str, Answerer] = {
    "/v1/responses": lambda state, body: plan_response(state, body, None)[0],
    "/v1/chat/completions": lambda state, body: plan_chat(state, body, None).completion,
    "/v1/embeddings": lambda _, body: create_embeddings(body),
    "/v1/moderations": lambda _, body: moderate(body),
}
"""The endpoints a batch can run, each with the fake's answer to one request body."""


def _require(payload: JsonObject, name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise missing_parameter(name)
    return value


def new_batch(state: FakeState, payload: JsonObject) -> JsonObject:
    """Validate a create body and store the batch, ``validating``."""
    input_file_id = _require(payload, "input_file_id")
    endpoint = _require(payload, "endpoint")
    window = _require(payload, "completion_window")
    if endpoint not in ANSWERERS:
        listed = ", ".join(f"'{e}'" for e in ANSWERERS)
        raise ApiError(
            400,
            f"Invalid value: '{endpoint}'. Supported values are: {listed}.",
            param="endpoint",
            code="invalid_value",
        )
    if window != "24h":
        raise ApiError(
            400,
            f"Invalid value: '{window}'. Supported values are: '24h'.",
            param="completion_window",
            code="invalid_value",
        )
    stored = stored_file(state, input_file_id, param="input_file_id")
    if stored.obj["purpose"] != "batch":
        raise ApiError(
            400,
            f"The input file must have purpose 'batch', but file {input_file_id} has purpose "
            f"'{stored.obj['purpose']}'.",
            param="input_file_id",
        )
    now = int(time.time())
    batch: JsonObject = {
        "id": new_id("batch_", 16),
        "object": "batch",
        "endpoint": endpoint,
        "model": None,
        "errors": None,
        "input_file_id": input_file_id,
        "completion_window": window,
        "status": "validating",
        "output_file_id": None,
        "error_file_id": None,
        "created_at": now,
        "in_progress_at": None,
        "expires_at": now + WINDOW_S,
        "finalizing_at": None,
        "completed_at": None,
        "failed_at": None,
        "expired_at": None,
        "cancelling_at": None,
        "cancelled_at": None,
        "request_counts": {"total": 0, "completed": 0, "failed": 0},
        "usage": None,
        "metadata": check_metadata(payload.get("metadata")) or {},
    }
    state.stores.batches[batch["id"]] = batch
    return batch


def find_batch(state: FakeState, batch_id: str) -> JsonObject:
    batch = state.stores.batches.get(batch_id)
    if batch is None:
        raise ApiError(404, f"No batch found with id '{batch_id}'.")
    return batch


def finish_batch(state: FakeState, batch_id: str) -> JsonObject:
    """Run a waiting batch to its end (``completed``, or ``cancelled`` if cancelling)."""
    batch = state.stores.batches.get(batch_id)
    if batch is None:
        raise KeyError(f"no batch {batch_id!r}")
    now = int(time.time())
    if batch["status"] == "cancelling":
        batch.update(status="cancelled", cancelled_at=now)
        return batch
    if batch["status"] != "validating":
        return batch
    lines = stored_file(state, batch["input_file_id"]).data.decode(errors="replace")
    outputs, errors, usage, model = _run_lines(state, batch["endpoint"], lines.splitlines())
    batch_name = batch["id"]
    if outputs:
        out = add_file(state, f"{batch_name}_output.jsonl", "batch_output", _jsonl(outputs))
        batch["output_file_id"] = out["id"]
    if errors:
        err = add_file(state, f"{batch_name}_error.jsonl", "batch_output", _jsonl(errors))
        batch["error_file_id"] = err["id"]
    batch.update(
        status="completed",
        model=model,
        in_progress_at=now,
        finalizing_at=now,
        completed_at=now,
        request_counts={
            "total": len(outputs) + len(errors),
            "completed": len(outputs),
            "failed": len(errors),
        },
        usage=usage,
    )
    return batch


def _run_lines(
    state: FakeState, endpoint: str, lines: list[str]
) -> tuple[list[JsonObject], list[JsonObject], JsonObject, str | None]:
    """Answer each non-blank line: ``(output lines, error lines, usage, first model)``."""
    outputs: list[JsonObject] = []
    errors: list[JsonObject] = []
    usage = {"input": 0, "cached": 0, "output": 0, "reasoning": 0}
    model: str | None = None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        custom_id: Any = None
        try:
            request = orjson.loads(line)
            custom_id = request.get("custom_id") if isinstance(request, dict) else None
            body = _line_body(request, endpoint, number)
            answer = ANSWERERS[endpoint](state, body)
        except orjson.JSONDecodeError:
            errors.append(_line(custom_id, None, _error("invalid_json", number)))
            continue
        except ApiError as exc:
            errors.append(_line(custom_id, _response(exc.status, exc.body()), None))
            continue
        model = model or body.get("model")
        _add_usage(usage, answer.get("usage"))
        outputs.append(_line(custom_id, _response(200, answer), None))
    return outputs, errors, _usage_object(usage), model


def _line_body(request: Any, endpoint: str, number: int) -> JsonObject:
    if not isinstance(request, dict) or not isinstance(request.get("custom_id"), str):
        raise ApiError(400, f"Line {number}: missing 'custom_id'.", param="custom_id")
    if request.get("url") != endpoint or request.get("method", "POST") != "POST":
        raise ApiError(
            400,
            f"Line {number}: the URL must be {endpoint} and the method POST, as the batch's.",
            param="url",
        )
    body = request.get("body")
    if not isinstance(body, dict):
        raise ApiError(400, f"Line {number}: 'body' must be an object.", param="body")
    return body


def _add_usage(totals: dict[str, int], usage: Any) -> None:
    if not isinstance(usage, dict):
        return
    # Responses name them input/output tokens, Chat and Embeddings prompt/completion tokens.
    input_tokens = usage.get("input_tokens", usage.get("prompt_tokens"))
    output_tokens = usage.get("output_tokens", usage.get("completion_tokens"))
    details = usage.get("input_tokens_details") or usage.get("prompt_tokens_details") or {}
    out = usage.get("output_tokens_details") or usage.get("completion_tokens_details") or {}
    totals["input"] += int(input_tokens or 0)
    totals["output"] += int(output_tokens or 0)
    totals["cached"] += int(details.get("cached_tokens") or 0)
    totals["reasoning"] += int(out.get("reasoning_tokens") or 0)


def _usage_object(totals: dict[str, int]) -> JsonObject:
    return {
        "input_tokens": totals["input"],
        "input_tokens_details": {"cached_tokens": totals["cached"]},
        "output_tokens": totals["output"],
        "output_tokens_details": {"reasoning_tokens": totals["reasoning"]},
        "total_tokens": totals["input"] + totals["output"],
    }


def _response(status: int, body: JsonObject) -> JsonObject:
    return {"status_code": status, "request_id": new_id("req_", 16), "body": body}


def _error(code: str, number: int) -> JsonObject:
    return {"code": code, "message": f"Line {number} is not valid JSON."}


def _line(custom_id: Any, response: JsonObject | None, error: JsonObject | None) -> JsonObject:
    return {
        "id": new_id("batch_req_", 16),
        "custom_id": custom_id,
        "response": response,
        "error": error,
    }


def _jsonl(lines: list[JsonObject]) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


class BatchesApi:
    """The batch routes."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(BATCHES_PATH, self._create)
        router.add_get(BATCHES_PATH, self._list)
        router.add_get(BATCHES_PATH + "/{id}", self._retrieve)
        router.add_post(BATCHES_PATH + "/{id}/cancel", self._cancel)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        payload = await read_payload(request)
        return await reply_json(self._state, request, new_batch(self._state, payload))

    async def _list(self, request: web.Request) -> web.StreamResponse:
        batches = list(self._state.stores.batches.values())
        return await reply_json(self._state, request, page(batches, request.query))

    async def _retrieve(self, request: web.Request) -> web.StreamResponse:
        batch = find_batch(self._state, request.match_info["id"])
        return await reply_json(self._state, request, batch)

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        batch = find_batch(self._state, request.match_info["id"])
        if batch["status"] in ("validating", "in_progress", "finalizing"):
            batch.update(status="cancelling", cancelling_at=int(time.time()))
        elif batch["status"] not in ("cancelling", "cancelled"):
            raise ApiError(
                400, f"Cannot cancel a batch with status '{batch['status']}'.", param="id"
            )
        return await reply_json(self._state, request, batch)
