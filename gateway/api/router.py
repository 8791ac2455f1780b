"""The outermost ASGI app: the OpenAI surface goes to raw handlers, the rest to Litestar.

The proxied endpoints carry nearly all traffic, so they skip the framework's
per-request machinery; health, models, usage and admin endpoints keep
Litestar's conveniences (and its OpenAPI schema). Every ``/v1`` path the
gateway does not serve gets OpenAI's own answer, a 404 ``Invalid URL``, and
is never forwarded: an unknown endpoint is a call nobody has priced.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.api import proxy, realtime_http
from gateway.api.asgi import Receive, Scope, Send
from gateway.api.objects import object_op
from gateway.api.realtime import realtime, responses_socket
from gateway.errors import NotFound
from gateway.services import Services
from gateway.shapes.audio import SPEECH, TRANSCRIPTIONS, TRANSLATIONS
from gateway.shapes.batches import BATCHES
from gateway.shapes.chat import CHAT
from gateway.shapes.containers import CONTAINERS
from gateway.shapes.embeddings import EMBEDDINGS, MODERATIONS
from gateway.shapes.images import IMAGES_EDIT, IMAGES_GENERATE, IMAGES_VARIATION
from gateway.shapes.objects import OBJECT_OPS
from gateway.shapes.responses import RESPONSES, RESPONSES_COMPACT

_ID = r"[A-Za-z0-9_.:-]{1,128}"
_TABLE: list[tuple[str, str, proxy.Handler]] = [
    ("POST", "/v1/responses", proxy.create(RESPONSES)),
    ("POST", "/v1/chat/completions", proxy.create(CHAT)),
    ("POST", "/v1/embeddings", proxy.create(EMBEDDINGS)),
    ("POST", "/v1/moderations", proxy.create(MODERATIONS)),
    ("POST", "/v1/responses/compact", proxy.create(RESPONSES_COMPACT)),
    ("POST", "/v1/images/generations", proxy.create(IMAGES_GENERATE)),
    ("POST", "/v1/images/edits", proxy.create(IMAGES_EDIT)),
    ("POST", "/v1/images/variations", proxy.create(IMAGES_VARIATION)),
    ("POST", "/v1/audio/speech", proxy.create(SPEECH)),
    ("POST", "/v1/audio/transcriptions", proxy.create(TRANSCRIPTIONS)),
    ("POST", "/v1/audio/translations", proxy.create(TRANSLATIONS)),
    ("POST", "/v1/containers", proxy.create(CONTAINERS)),
    ("POST", "/v1/batches", proxy.create(BATCHES)),
    ("POST", "/v1/realtime/client_secrets", realtime_http.client_secrets()),
    ("POST", "/v1/realtime/calls", realtime_http.calls()),
    *((op.method, op.path, object_op(op)) for op in OBJECT_OPS),
]
# Served by the control plane (Litestar), not proxied.
_CONTROL = re.compile(r"^/v1/(models(/[^/]+)?|gateway/.*)$")


def _compile(
    table: list[tuple[str, str, proxy.Handler]],
) -> tuple[dict[tuple[str, str], proxy.Handler], list[tuple[re.Pattern[str], str, proxy.Handler]]]:
    exact: dict[tuple[str, str], proxy.Handler] = {}
    patterns: list[tuple[re.Pattern[str], str, proxy.Handler]] = []
    for method, path, handler in table:
        if "{" not in path:
            exact[(method, path)] = handler
        else:
            regex = re.sub(r"\{(\w+)\}", rf"(?P<\1>{_ID})", path)
            patterns.append((re.compile(f"^{regex}$"), method, handler))
    return exact, patterns


_EXACT, _PATTERNS = _compile(_TABLE)
_SOCKETS = {"/v1/realtime": realtime, "/v1/responses": responses_socket}


def match(method: str, path: str) -> tuple[proxy.Handler, dict[str, str]] | None:
    """The handler of an OpenAI path and its parameters; None when the gateway has none."""
    handler = _EXACT.get((method, path))
    if handler is not None:
        return handler, {}
    for regex, wanted, handler in _PATTERNS:
        if wanted == method:
            m = regex.match(path)
            if m is not None:
                return handler, m.groupdict()
    return None


async def _invalid_url(ex: proxy.Exchange) -> None:
    ex.ctx.endpoint = "unknown"
    # OpenAI's own answer, for an unknown path and for a known path with another method.
    raise NotFound(f"Invalid URL ({ex.scope['method']} {ex.scope['path']})", code=None)


_ASSISTANTS = re.compile(r"^/v1/(assistants|threads)(/.*)?$")
ASSISTANTS_MIGRATION = "https://platform.openai.com/docs/assistants/migration"


async def _assistants_retired(ex: proxy.Exchange) -> None:
    """The retired Assistants API: 404 as for any path the gateway does not serve (so SDKs
    raise ``NotFoundError`` as before; a 410 would be a bare ``APIStatusError``), with a
    code and message that say where to go instead."""
    ex.ctx.endpoint = "assistants"
    raise NotFound(
        f"The Assistants API is retired ({ex.scope['method']} {ex.scope['path']}): use the "
        f"Responses API (POST /v1/responses) instead. Migration guide: {ASSISTANTS_MIGRATION}",
        code="assistants_api_retired",
    )


class GatewayRouter:
    def __init__(self, services: Services, fallback: Any) -> None:
        self.services = services
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                path = path[:-1]
            found = match(scope["method"], path)
            if found is not None:
                scope["path_params"] = found[1]
                await proxy.run(self.services, found[0], scope, receive, send)
                return
            if path.startswith("/v1/") and _CONTROL.match(path) is None:
                unknown = _assistants_retired if _ASSISTANTS.match(path) else _invalid_url
                await proxy.run(self.services, unknown, scope, receive, send)
                return
        elif scope["type"] == "websocket":
            socket = _SOCKETS.get(scope["path"].rstrip("/"))
            if socket is not None:
                await socket(self.services, scope, receive, send)
                return
        await self.fallback(scope, receive, send)
