"""Litestar handlers for what is not proxied: models list, health and readiness."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from sqlalchemy import text

from gateway.api.openapi import document
from gateway.errors import GatewayError, InternalError, error_body
from gateway.services import Services

_STARTED = int(time.time())


@get("/v1/models")
async def list_models(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> dict[str, Any]:
    """The models the caller's tenant may use, in OpenAI's list shape."""
    caller = await services.authenticate(request.headers.get("authorization"))
    allowed = sorted(caller.policy.allowed_models)
    return {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": _STARTED, "owned_by": "gateway"}
            for m in allowed
        ],
    }


_DOCUMENT = document()


@get("/openapi.json")
async def openapi() -> dict[str, Any]:
    """This gateway's OpenAPI document (public: it names endpoints, nothing about tenants)."""
    return _DOCUMENT


@get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@get("/readyz")
async def readyz(services: NamedDependency[Services]) -> Response[dict[str, str]]:
    """Readiness: not shutting down, and the database answers (ownership checks need it)."""
    if services.draining:
        return Response({"status": "draining"}, status_code=503)
    try:
        await asyncio.wait_for(asyncio.to_thread(_ping, services), timeout=2.0)
    except Exception as exc:
        return Response({"status": "unavailable", "reason": type(exc).__name__}, status_code=503)
    return Response({"status": "ready"})


def _ping(services: Services) -> None:
    with services.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def gateway_error_response(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """The one mapping from exceptions to OpenAI-shaped error responses for Litestar routes."""
    if isinstance(exc, GatewayError):
        status, body, headers = exc.status, exc.body(), exc.headers
    elif isinstance(exc, HTTPException) and exc.status_code < 500:
        status = exc.status_code
        code = {404: "not_found", 405: "method_not_allowed"}.get(status)
        message = {
            404: "Unknown request URL. Please check the URL and method.",
            405: "Method not allowed for this URL.",
        }.get(status, str(exc.detail))
        # Litestar's own headers (a 405's Allow) go out with our body.
        headers = dict(exc.headers or {})
        body = error_body(message, "invalid_request_error", code)
    else:
        err = InternalError("The gateway failed to handle this request.", code="internal_error")
        status, body, headers = err.status, err.body(), {}
    return Response(body, status_code=status, media_type="application/json", headers=headers)
