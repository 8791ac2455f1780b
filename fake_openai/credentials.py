"""Who may call the fake: the one API key, a browser's key offered as a WebSocket
subprotocol, and the short-lived ``ek_…`` client secrets minted for Realtime.

An ``ek_`` secret opens a Realtime socket (``/v1/realtime?model=``) and a WebRTC call
(``POST /v1/realtime/calls``) until it expires; it is no API key anywhere else.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass

from aiohttp import web

from fake_openai.wire import CALLS_PATH, REALTIME_PATH, ApiError, JsonObject, mask_key

SUBPROTOCOL_KEY_PREFIX = "openai-insecure-api-key."


@dataclass(frozen=True)
class Secret:
    """A minted client secret: when it expires and the session it opens."""

    expires_at: int
    session: JsonObject


class SecretStore:
    """The client secrets minted so far, by value."""

    def __init__(self) -> None:
        self._secrets: dict[str, Secret] = {}

    def add(self, value: str, secret: Secret) -> None:
        self._secrets[value] = secret

    def live(self, value: str | None) -> Secret | None:
        """The secret ``value`` names, unless there is none or it has expired."""
        secret = self._secrets.get(value) if value else None
        if secret is None or secret.expires_at <= time.time():
            return None
        return secret

    def clear(self) -> None:
        self._secrets.clear()


def subprotocol_key(request: web.Request) -> str | None:
    """The key a browser offers as ``openai-insecure-api-key.<key>`` on ``/v1/realtime``.

    Browsers cannot set headers on a WebSocket, so they offer the key as a subprotocol.
    """
    if request.path != REALTIME_PATH:
        return None
    for header in request.headers.getall("Sec-WebSocket-Protocol", []):
        for protocol in header.split(","):
            protocol = protocol.strip()
            if protocol.startswith(SUBPROTOCOL_KEY_PREFIX):
                return protocol.removeprefix(SUBPROTOCOL_KEY_PREFIX)
    return None


def bearer(request: web.Request) -> str:
    """The ``Authorization: Bearer`` credential, or ``""``."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def presented_secret(store: SecretStore, request: web.Request) -> tuple[bool, Secret | None]:
    """Whether the request's credential is an ``ek_`` secret, and that secret if live."""
    presented = bearer(request) or subprotocol_key(request) or ""
    return presented.startswith("ek_"), store.live(presented)


def check_auth(api_key: str | None, store: SecretStore, request: web.Request) -> None:
    """Raise the 401 OpenAI answers unless the request carries a credential for its path."""
    if api_key is None:
        return
    presented = bearer(request) or subprotocol_key(request) or ""
    if not presented:
        raise ApiError(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), "
            "or as the password field (with blank username) if you're accessing the API "
            "from your browser and are prompted for a username and password. You can "
            "obtain an API key from https://platform.openai.com/account/api-keys.",
        )
    if hmac.compare_digest(presented.encode(), api_key.encode()):
        return
    if request.path in (REALTIME_PATH, CALLS_PATH) and store.live(presented) is not None:
        return
    raise ApiError(
        401,
        f"Incorrect API key provided: {mask_key(presented)}. You can find your API "
        "key at https://platform.openai.com/account/api-keys.",
        code="invalid_api_key",
    )
