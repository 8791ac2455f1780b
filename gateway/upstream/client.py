"""The upstream hot path: one pooled aiohttp session per upstream, behind our own interface.

aiohttp's C HTTP parser costs a fraction of httpx's default transport per
request (see bench/RESULTS.md), so it carries the proxied traffic. Transport
failures are mapped here, in one place, to the gateway's errors: connect
failures to 502, timeouts to 504. Nothing in this module knows about tenants.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping

import aiohttp

from gateway.config.runtime import Upstream
from gateway.errors import (
    BadRequest,
    GatewayError,
    NotFound,
    PermissionDenied,
    UpgradeRequired,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)

log = logging.getLogger(__name__)


def map_transport_error(exc: BaseException, upstream: str) -> GatewayError:
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return UpstreamTimeout(f"The upstream {upstream!r} timed out.", code="upstream_timeout")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamError(
            f"Could not connect to the upstream {upstream!r}.", code="upstream_unreachable"
        )
    return UpstreamError(
        f"The connection to the upstream {upstream!r} failed: {type(exc).__name__}.",
        code="upstream_disconnected",
    )


class UpstreamResponse:
    """An upstream answer whose body is read once: whole, or chunk by chunk."""

    __slots__ = ("_name", "_resp", "headers", "status")

    def __init__(self, name: str, resp: aiohttp.ClientResponse) -> None:
        self._name = name
        self._resp = resp
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers

    @property
    def content_type(self) -> str:
        return self._resp.content_type

    async def read(self) -> bytes:
        try:
            return await self._resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise map_transport_error(exc, self._name) from exc
        finally:
            self._resp.release()

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._resp.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise map_transport_error(exc, self._name) from exc

    def close(self) -> None:
        """Drop the connection (used when the client left mid-stream)."""
        self._resp.close()

    def release(self) -> None:
        self._resp.release()


class UpstreamClient:
    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self._session: aiohttp.ClientSession | None = None
        self._ws_session: aiohttp.ClientSession | None = None
        self._failures = 0  # in a row
        self._open_until = 0.0

    def circuit_open(self) -> bool:
        return time.monotonic() < self._open_until

    def note(self, status: int, failure: BaseException | None) -> None:
        """Feed the circuit breaker: transport failures and 5xx count, anything else resets."""
        if failure is not None and getattr(failure, "code", None) == "upstream_circuit_open":
            return
        if failure is not None or status >= 500:
            self._failures += 1
            if self._failures >= self.upstream.circuit_failures:
                self._open_until = time.monotonic() + self.upstream.circuit_cooldown_s
                log.warning(
                    "upstream %s failed %d times in a row: skipped for %.0fs",
                    self.upstream.name, self._failures, self.upstream.circuit_cooldown_s,
                )  # fmt: skip
        else:
            self._failures = 0

    async def start(self) -> None:
        u = self.upstream
        connector = aiohttp.TCPConnector(
            limit=u.max_connections, limit_per_host=u.max_connections, ttl_dns_cache=300
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=u.connect_timeout_s, sock_read=u.read_timeout_s
            ),
            skip_auto_headers=("User-Agent",),
            raise_for_status=False,
        )
        # WebSockets hold their connection for a whole session: their own pool, so that
        # open sessions never starve the HTTP calls of connections.
        self._ws_session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=u.connect_timeout_s),
            skip_auto_headers=("User-Agent",),
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._ws_session is not None:
            await self._ws_session.close()

    async def send(
        self, method: str, path: str, query: bytes, headers: dict[str, str], body: bytes | None
    ) -> UpstreamResponse:
        """Send a request; ``path`` is relative to the upstream base URL (``/responses``)."""
        assert self._session is not None, "UpstreamClient.start() was not called"
        if self.circuit_open():
            raise UpstreamUnavailable(
                f"The upstream {self.upstream.name!r} is failing; the gateway is giving it "
                "a rest. Try again shortly.",
                code="upstream_circuit_open",
            )
        url = self.upstream.base_url + path
        if query:
            url += "?" + query.decode("latin-1")
        try:
            resp = await self._session.request(method, url, headers=headers, data=body)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise map_transport_error(exc, self.upstream.name) from exc
        return UpstreamResponse(self.upstream.name, resp)

    async def fetch(self, path: str) -> tuple[int, bytes]:
        """``GET path`` on the gateway's own behalf (its key, no client headers): the status
        and the whole body. For what the gateway reads itself: a batch's input file, how a
        held call is going, a vector store's size."""
        key = self.upstream.api_key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        resp = await self.send("GET", path, b"", headers, None)
        return resp.status, await resp.read()

    async def ws_connect(self, path: str, query: str) -> aiohttp.ClientWebSocketResponse:
        """Open a WebSocket to the upstream (Realtime) with the gateway's own key."""
        assert self._ws_session is not None, "UpstreamClient.start() was not called"
        u = self.upstream
        url = u.base_url + path + (f"?{query}" if query else "")
        headers = {"Authorization": f"Bearer {u.api_key}"} if u.api_key else {}
        try:
            return await self._ws_session.ws_connect(
                url,
                headers=headers,
                max_msg_size=64 * 1024**2,  # a response.done can carry a long transcript
                timeout=aiohttp.ClientWSTimeout(ws_close=5),
                autoping=True,
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise handshake_error(exc.status, u.name, path) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise map_transport_error(exc, u.name) from exc


def handshake_error(status: int, upstream: str, path: str) -> GatewayError:
    """The upstream refused a WebSocket upgrade (its error body is not available).

    Only 401 is the gateway's credentials. For the Responses WebSocket mode, 403, 404 and
    426 mean the upstream does not offer the mode: a 426 makes clients (Codex) fall back
    to HTTP at once, where a 404 or 502 made them retry first."""
    if status == 401:
        return UpstreamError(
            f"The upstream {upstream!r} refused the gateway's credentials.",
            code="upstream_auth_failed",
        )
    if path == "/responses" and status in (403, 404, 426):
        return UpgradeRequired(
            f"The upstream {upstream!r} does not offer the Responses WebSocket mode "
            f"(HTTP {status}); use HTTP.",
            code="websocket_mode_not_supported",
        )
    if status == 404:
        return NotFound("The upstream does not know this session or call.", code="not_found")
    if status == 429:
        return UpstreamUnavailable(
            f"The upstream {upstream!r} is rate limiting the gateway.",
            code="upstream_rate_limited",
        )
    if status == 403:
        return PermissionDenied(
            f"The upstream {upstream!r} refused the session (HTTP 403).", code=None
        )
    if 400 <= status < 500:
        return BadRequest(f"The upstream refused the session (HTTP {status}).", code=None)
    return UpstreamError(
        f"The upstream {upstream!r} failed (HTTP {status}).", code="upstream_error"
    )


class UpstreamPool:
    """Every configured upstream's client, created at start-up and closed at shutdown."""

    def __init__(self, upstreams: Mapping[str, Upstream]) -> None:
        self._clients = {name: UpstreamClient(u) for name, u in upstreams.items()}

    def circuits(self) -> list[tuple[str, bool]]:
        """Each upstream and whether its circuit breaker is open now."""
        return [(name, client.circuit_open()) for name, client in self._clients.items()]

    def get(self, name: str) -> UpstreamClient:
        return self._clients[name]

    async def start(self) -> None:
        for c in self._clients.values():
            await c.start()

    async def aclose(self) -> None:
        for c in self._clients.values():
            await c.aclose()
