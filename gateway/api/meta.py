"""Litestar handlers for what is not proxied: models list, health and readiness."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from sqlalchemy import text

from gateway.api.openapi import document
from gateway.errors.wire import as_gateway_error, json_body
from gateway.services import Services

_STARTED = int(time.time())


@get("/v1/models")
async def list_models(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> dict[str, Any]:
    """The models the caller's tenant may use, in OpenAI's list shape."""
    caller = await services.auth.caller(request.headers.get("authorization"))
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
    """Litestar routes' errors, rendered by the one error renderer."""
    err = as_gateway_error(exc)
    return Response(
        json_body(err), status_code=err.status, media_type="application/json", headers=err.headers
    )
