"""The Responses API over HTTP: ``POST /v1/responses`` (JSON, or SSE with ``stream``) and the
stored-response routes (``GET``/``DELETE /v1/responses/{id}``, ``…/cancel``, ``…/input_items``).

``GET /v1/responses/{id}?stream=true&starting_after=N`` replays the stored response's stream
events numbered after N, as they were (or would have been) streamed."""

from __future__ import annotations

from aiohttp import web

from fake_openai.billing import billed_response, on_stream_end
from fake_openai.encoding import sse
from fake_openai.response_events import replay_events, response_events
from fake_openai.responses import plan_response
from fake_openai.state import FakeState, StoredResponse
from fake_openai.transport import (
    answer_cut,
    read_payload,
    reply_json,
    reply_stream,
    request_fault,
)
from fake_openai.wire import RESPONSES_PATH, ApiError


class ResponsesApi:
    """The Responses routes over HTTP."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(RESPONSES_PATH, self._create)
        router.add_get(RESPONSES_PATH + "/{id}", self._get)
        router.add_delete(RESPONSES_PATH + "/{id}", self._delete)
        router.add_post(RESPONSES_PATH + "/{id}/cancel", self._cancel)
        router.add_get(RESPONSES_PATH + "/{id}/input_items", self._list_input_items)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        payload = await read_payload(request)
        final, returned = plan_response(self._state, payload, request_fault(request))
        if not payload.get("stream"):
            if returned is final:  # a background response is billed when it completes
                cut = answer_cut(request)
                self._state.billed.append(billed_response(final, delivered=not cut))
            return await reply_json(self._state, request, returned)
        obfuscate = (payload.get("stream_options") or {}).get("include_obfuscation", True)
        events = [sse(event, named=True) for event in response_events(final, bool(obfuscate))]
        # The terminal event, last, carries the usage.
        on_end = on_stream_end(self._state.billed, billed_response(final), len(events) - 1)
        return await reply_stream(self._state, request, events, on_end)

    def _stored(self, request: web.Request) -> tuple[str, StoredResponse]:
        response_id = request.match_info["id"]
        stored = self._state.responses.get(response_id)
        if stored is None:
            raise ApiError(404, f"No response found with id '{response_id}'.")
        return response_id, stored

    async def _get(self, request: web.Request) -> web.StreamResponse:
        _, stored = self._stored(request)
        if request.query.get("stream") != "true":
            return await reply_json(self._state, request, stored.obj)
        try:
            after = int(request.query.get("starting_after", "-1"))
        except ValueError:
            raise ApiError(
                400,
                "Invalid 'starting_after': expected an integer.",
                param="starting_after",
                code="invalid_type",
            ) from None
        obfuscate = request.query.get("include_obfuscation", "true") != "false"
        events = [
            sse(event, named=True)
            for event in replay_events(stored.obj, obfuscate)
            if event["sequence_number"] > after
        ]
        return await reply_stream(self._state, request, events)

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        response_id, _ = self._stored(request)
        del self._state.responses[response_id]
        return await reply_json(
            self._state,
            request,
            {"id": response_id, "object": "response.deleted", "deleted": True},
        )

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        _, stored = self._stored(request)
        if not stored.obj.get("background"):
            raise ApiError(400, "Only responses created with background=true can be cancelled")
        status = stored.obj["status"]
        if status in ("queued", "in_progress"):
            stored.obj = {**stored.obj, "status": "cancelled"}
        elif status != "cancelled":
            raise ApiError(400, f"Cannot cancel a response with status '{status}'.")
        return await reply_json(self._state, request, stored.obj)

    async def _list_input_items(self, request: web.Request) -> web.StreamResponse:
        _, stored = self._stored(request)
        query = request.query
        try:
            limit = int(query.get("limit", "20"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            raise ApiError(
                400,
                "Invalid 'limit': expected an integer between 1 and 100.",
                param="limit",
            )
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise ApiError(400, "Invalid 'order': expected one of 'asc' or 'desc'.", param="order")
        items = list(stored.input_items)
        if order == "desc":
            items.reverse()
        after = query.get("after")
        if after is not None:
            ids = [item["id"] for item in items]
            if after not in ids:
                raise ApiError(
                    400, f"Invalid 'after': no input item with id '{after}'.", param="after"
                )
            items = items[ids.index(after) + 1 :]
        page = items[:limit]
        return await reply_json(
            self._state,
            request,
            {
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": len(items) > limit,
            },
        )
