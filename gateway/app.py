"""``create_app``: build one gateway instance. Importing this module does nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.di import Provide
from sqlalchemy.engine import Engine

from gateway.api.meta import gateway_error_response, healthz, list_models, readyz
from gateway.api.router import GatewayRouter
from gateway.api.usage import admin_usage, tenant_usage
from gateway.config.runtime import RuntimeConfig
from gateway.db import make_engine
from gateway.services import Services
from gateway.settings import Settings


def create_app(
    settings: Settings, config: RuntimeConfig, engine: Engine | None = None
) -> GatewayRouter:
    services = Services(config, engine or make_engine(settings.database_url))

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await services.start()
        try:
            yield
        finally:
            await services.aclose()

    def provide_services() -> Services:
        return services

    litestar = Litestar(
        route_handlers=[list_models, healthz, readyz, tenant_usage, admin_usage],
        dependencies={"services": Provide(provide_services, sync_to_thread=False)},
        exception_handlers={Exception: gateway_error_response},
        lifespan=[lifespan],
        openapi_config=None,
        logging_config=None,
    )
    return GatewayRouter(services, litestar)


def litestar_of(app: Any) -> Litestar:
    fallback = app.fallback if isinstance(app, GatewayRouter) else app
    assert isinstance(fallback, Litestar)
    return fallback
