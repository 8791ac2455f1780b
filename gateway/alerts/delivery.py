"""One notification to one webhook: POSTed, retried with exponential backoff.

A 2xx is delivered. Connection errors, timeouts, 408, 425, 429 and 5xx are
retried; any other 4xx is the receiver refusing the request, and retrying the
same bytes cannot change that. Logs name the webhook and its host, never the
path or query string (where webhook URLs carry their secrets).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from gateway.alerts.events import AlertEvent
from gateway.alerts.payload import body_of, headers_of
from gateway.config.alerts import DeliveryConfig, Webhook

log = logging.getLogger(__name__)

RETRYABLE = frozenset({408, 425, 429})


class PostFailed(Exception):
    """The request did not get an answer (connection refused or reset, timeout)."""


class Poster(Protocol):
    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> int:
        """The answer's status; raises `PostFailed` when there is none."""
        ...

    async def aclose(self) -> None: ...


class HttpPoster:
    """Over aiohttp, one session for every webhook (opened on first use)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> int:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            timeout = aiohttp.ClientTimeout(total=timeout_s)
            async with self._session.post(
                url, data=body, headers=dict(headers), timeout=timeout, allow_redirects=False
            ) as response:
                return response.status  # the body is not read: any 2xx will do
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PostFailed(type(exc).__name__) from None  # its text may hold the URL

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


@dataclass(frozen=True, slots=True)
class Backoff:
    attempts: int
    base_s: float
    max_s: float

    @classmethod
    def of(cls, cfg: DeliveryConfig) -> Backoff:
        return cls(cfg.attempts, cfg.base_delay_s, cfg.max_delay_s)

    def delay(self, failures: int) -> float:
        """The wait after the ``failures``-th failure in a row: base, 2·base, 4·base, ..."""
        return float(min(self.max_s, self.base_s * 2.0 ** (failures - 1)))


async def deliver(
    poster: Poster,
    webhook: Webhook,
    event: AlertEvent,
    backoff: Backoff,
    *,
    deadline: float,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bool:
    """Whether the webhook took it. No attempt starts that could end past ``deadline`` (the
    claim's lease: after it another replica may be sending the same notification)."""
    body = body_of(event, webhook)
    for attempt in range(1, backoff.attempts + 1):
        now = clock()
        try:
            status = await poster.post(
                webhook.url, body, headers_of(event, webhook, body, now), webhook.timeout_s
            )
            problem = f"status {status}"
        except PostFailed as exc:
            status, problem = 0, str(exc)
        if 200 <= status < 300:
            return True
        log.warning("alert %s to webhook %s (%s): attempt %d failed: %s", event.id[:12],
                    webhook.name, webhook.safe_url, attempt, problem)  # fmt: skip
        if status and status < 500 and status not in RETRYABLE:
            return False
        wait = backoff.delay(attempt)
        if attempt == backoff.attempts or clock() + wait + webhook.timeout_s > deadline:
            return False
        await sleep(wait)
    return False
