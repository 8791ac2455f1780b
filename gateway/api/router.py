"""The outermost ASGI app: proxied endpoints go to raw handlers, the rest to Litestar.

The proxied endpoints carry nearly all traffic, so they skip the framework's
per-request machinery; health, models and admin endpoints keep Litestar's
conveniences (and its OpenAPI schema).
"""

from __future__ import annotations

import re
from typing import Any

from gateway.api import proxy, realtime_http
from gateway.api.asgi import Receive, Scope, Send
from gateway.api.realtime import realtime, responses_socket
from gateway.services import Services
from gateway.shapes.chat import CHAT
from gateway.shapes.responses import RESPONSES

_EXACT: dict[str, proxy.Handler] = {
    "/v1/responses": proxy.create(RESPONSES),
    "/v1/chat/completions": proxy.create(CHAT),
    "/v1/realtime/client_secrets": realtime_http.client_secrets(),
    "/v1/realtime/calls": realtime_http.calls(),
}
_SOCKETS = {"/v1/realtime": realtime, "/v1/responses": responses_socket}
_STORED = re.compile(
    r"^/v1/responses/(?P<response_id>[A-Za-z0-9_.:-]{1,128})(?P<suffix>/[a-z_]+)?$"
)
_STORED_HANDLERS: dict[str, proxy.Handler] = {
    "": proxy.stored_response("", ("GET", "DELETE")),
    "/cancel": proxy.stored_response("/cancel", ("POST",)),
    "/input_items": proxy.stored_response("/input_items", ("GET",)),
}


class GatewayRouter:
    def __init__(self, services: Services, fallback: Any) -> None:
        self.services = services
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                path = path[:-1]
            handler = _EXACT.get(path)
            if handler is None and path.startswith("/v1/responses/"):
                m = _STORED.match(path)
                if m is not None and (m["suffix"] or "") in _STORED_HANDLERS:
                    handler = _STORED_HANDLERS[m["suffix"] or ""]
                    scope["path_params"] = {"response_id": m["response_id"]}
            if handler is not None:
                await proxy.run(self.services, handler, scope, receive, send)
                return
        elif scope["type"] == "websocket":
            socket = _SOCKETS.get(scope["path"].rstrip("/"))
            if socket is not None:
                await socket(self.services, scope, receive, send)
                return
        await self.fallback(scope, receive, send)
