"""``POST /v1/realtime/client_secrets``: mint an ``ek_…`` secret for a browser, with the session
it will open (see credentials.py for where it is accepted)."""

from __future__ import annotations

import time

from aiohttp import web

from fake_openai.credentials import Secret
from fake_openai.realtime_config import default_session, merge_session
from fake_openai.realtime_session import DEFAULT_MODEL
from fake_openai.state import FakeState
from fake_openai.transport import read_payload, reply_json
from fake_openai.wire import REALTIME_PATH, ApiError, new_id

CLIENT_SECRET_TTL_S = (10, 600, 7200)
"""Minimum, default and maximum ``expires_after.seconds`` of a client secret."""


class ClientSecretsApi:
    """The client-secret route."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(REALTIME_PATH + "/client_secrets", self._create)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        payload = await read_payload(request)
        expires_after = payload.get("expires_after") or {}
        if not isinstance(expires_after, dict):
            raise ApiError(400, "Invalid type for 'expires_after'.", param="expires_after")
        low, default, high = CLIENT_SECRET_TTL_S
        seconds = expires_after.get("seconds", default)
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not low <= seconds <= high:
            raise ApiError(
                400,
                f"Invalid 'expires_after.seconds': expected an integer between {low} and "
                f"{high}, but got {seconds!r} instead.",
                param="expires_after.seconds",
                code="invalid_value",
            )
        if expires_after.get("anchor", "created_at") != "created_at":
            raise ApiError(
                400,
                "Invalid 'expires_after.anchor': expected 'created_at'.",
                param="expires_after.anchor",
                code="invalid_value",
            )
        raw = payload.get("session") or {"type": "realtime"}
        model = raw.get("model") if isinstance(raw, dict) else None
        config = merge_session(
            default_session(
                new_id("sess_", 12), model if isinstance(model, str) else DEFAULT_MODEL
            ),
            raw,
        )
        value = new_id("ek_", 16)
        expires_at = int(time.time()) + seconds
        self._state.secrets.add(value, Secret(expires_at, config))
        return await reply_json(
            self._state, request, {"value": value, "expires_at": expires_at, "session": config}
        )
