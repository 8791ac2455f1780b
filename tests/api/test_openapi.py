"""The OpenAPI document matches what the gateway serves, and the gateway survives fuzzing by it.

schemathesis generates requests from `GET /openapi.json` for every operation and
checks each answer: no 5xx, a status and content type the document declares, JSON
that fits its schema (every error in OpenAI's shape), 401 without credentials, 405
with ``Allow`` for other methods. The upstream behind the gateway is the fake one,
so valid requests are served end to end.

One check is left out: that every schema-valid request is accepted. Whether a
request is acceptable depends on the running config (which models exist, what
the tenant may do, what a Realtime session needs), which a static document does
not state; such requests get a 400 in OpenAI's shape, and that is checked.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import schemathesis
from harness import GatewayServer
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.specs.openapi.checks import unsupported_method

from gateway.api import router
from gateway.app import api_document

schema = schemathesis.openapi.from_dict(api_document())


@schemathesis.serializer("application/sdp")
def sdp(ctx: Any, value: Any) -> bytes:
    """Generated SDP offers go out as text (schemathesis knows no SDP serializer)."""
    return str(value).encode()


def test_the_document_lists_exactly_the_routes_the_gateway_serves(gateway: GatewayServer) -> None:
    served = {path for _, path, _ in router._TABLE}
    litestar: Any = gateway.app.fallback.litestar
    served |= {re.sub(r":\w+\}", "}", route.path) for route in litestar.routes}
    assert set(api_document()["paths"]) == served
    answer = httpx.get(f"{gateway.root}/openapi.json")
    assert answer.status_code == 200
    assert answer.json() == api_document()


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=50,
    # The same examples every run: a negative case whose only invalid parts are the
    # Authorization header this test supplies and a query key dropped when serialized is
    # "accepted" (200), a false failure that came up once in many runs.
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_fuzzed_requests_get_declared_answers_and_never_a_5xx(
    case: schemathesis.Case[Any], gateway: GatewayServer
) -> None:
    # Like OpenAI, the proxied routes answer a method they do not serve with 404 Invalid URL,
    # not 405 (the control plane keeps 405 and is held to it).
    proxied = case.path in {path for _, path, _ in router._TABLE}
    case.call_and_validate(
        base_url=gateway.root,
        headers={"Authorization": f"Bearer {gateway.token('alpha')}"},
        excluded_checks=[positive_data_acceptance, *([unsupported_method] if proxied else [])],
    )
