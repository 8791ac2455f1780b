"""Litestar handlers for what is not proxied: models list, health, readiness, the API document."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal, TypedDict

from litestar import Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath
from sqlalchemy import text

from gateway.auth.callers import Caller
from gateway.config.runtime import RuntimeConfig
from gateway.errors import NotFound
from gateway.services import Services

_STARTED = int(time.time())
PUBLIC: list[dict[str, list[str]]] = [{}]  # OpenAPI: no credentials needed


class ModelCard(TypedDict):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(TypedDict):
    object: Literal["list"]
    data: list[ModelCard]


class Health(TypedDict):
    status: Literal["ok"]


class _Reason(TypedDict, total=False):  # not NotRequired: see gateway.api.usage._GroupKeys
    reason: str  # why the database check failed (an exception's class name)


class Readiness(_Reason):
    status: Literal["ready", "draining", "unavailable"]


@get("/v1/models", summary="The models the caller's tenant may use")
async def list_models(
    caller: NamedDependency[Caller], services: NamedDependency[Services]
) -> ModelList:
    """The models (and routes) the caller's tenant may use, in OpenAI's list shape."""
    config = services.config
    return {
        "object": "list",
        "data": [_card(config, m) for m in sorted(caller.policy.allowed_models)],
    }


@get("/v1/models/{model_id:str}", summary="One model the caller's tenant may use")
async def retrieve_model(
    caller: NamedDependency[Caller], services: NamedDependency[Services], model_id: FromPath[str]
) -> ModelCard:
    """A model the tenant may use; any other gets OpenAI's answer for a missing model."""
    if model_id not in caller.policy.allowed_models:
        raise NotFound(
            f"The model '{model_id}' does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    return _card(services.config, model_id)


def _card(config: RuntimeConfig, name: str) -> ModelCard:
    """OpenAI's model object: ``owned_by`` says ``openai`` for a model the upstream serves
    under that name, and the gateway for its own names (a route, an alias)."""
    model = config.models.get(name)
    upstream = model is not None and model.upstream_model == name and name not in config.routes
    owner = "openai" if upstream else "gateway"
    return {"id": name, "object": "model", "created": _STARTED, "owned_by": owner}


@get("/openapi.json", summary="This document", security=PUBLIC)
async def openapi(state: State) -> dict[str, Any]:
    """This gateway's OpenAPI document (public: it names endpoints, nothing about tenants)."""
    document: dict[str, Any] = state["openapi"]
    return document


@get("/healthz", summary="Liveness", security=PUBLIC)
async def healthz() -> Health:
    """Liveness: the process answers."""
    return {"status": "ok"}


@get(
    "/readyz",
    summary="Readiness",
    security=PUBLIC,
    responses={503: ResponseSpec(Readiness, description="Draining, or the database is down")},
)
async def readyz(services: NamedDependency[Services]) -> Response[Readiness]:
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
