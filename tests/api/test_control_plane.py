"""Every control-plane (Litestar) route: counted, logged and refused like the proxied routes.

One wrapper (`gateway.api.control.ControlPlane`) gives each of them a request id
(``x-gateway-request-id``, and ``x-request-id`` since no upstream answered), a ``gateway_requests_total`` sample and a request duration
labelled with a bounded endpoint name, and one JSON access-log line; every refusal,
Litestar's own 404 and 405 included, is in OpenAI's error shape.
"""

from __future__ import annotations

import logging

import httpx
import pytest
from harness import GatewayServer, access_lines, metric_value

# (method, path, credentials, status, endpoint label, tenant, error code)
CASES = [
    ("GET", "/healthz", None, 200, "healthz", None, None),
    ("GET", "/v1/models", "alpha", 200, "models", "alpha", None),
    ("GET", "/v1/gateway/usage", None, 401, "gateway.usage", None, "missing_api_key"),
    ("GET", "/admin/config", "alpha", 403, "admin.config", "alpha", "admin_required"),
    ("GET", "/admin/config", "admin", 200, "admin.config", "alpha", None),
    ("GET", "/v1/no-such-thing", None, 404, "unknown", None, None),  # OpenAI's Invalid URL
    ("GET", "/no-such-thing", None, 404, "unknown", None, "not_found"),
    ("DELETE", "/healthz", None, 405, "unknown", None, "method_not_allowed"),
]


@pytest.mark.parametrize(
    ("method", "path", "who", "status", "endpoint", "tenant", "code"),
    CASES,
    ids=[f"{c[0]} {c[1]} {c[3]}" for c in CASES],
)
def test_each_request_is_counted_logged_and_shaped(
    gateway: GatewayServer,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    who: str | None,
    status: int,
    endpoint: str,
    tenant: str | None,
    code: str | None,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    headers = {}
    if who is not None:
        token = gateway.token("alpha", admin=who == "admin")
        headers["Authorization"] = f"Bearer {token}"
    labels = {
        "tenant": tenant or "_none",
        "route": "-",
        "model": "_none",
        "endpoint": endpoint,
        "status_class": f"{status // 100}xx",
    }
    before = metric_value(gateway, "gateway_requests_total", **labels)
    durations = metric_value(
        gateway, "gateway_request_duration_seconds_count", endpoint=endpoint, route="-"
    )

    answer = httpx.request(method, f"{gateway.root}{path}", headers=headers)

    assert answer.status_code == status
    request_id = answer.headers["x-gateway-request-id"]
    assert request_id.startswith("req_")
    if code is not None:
        assert answer.headers["content-type"] == "application/json"
        error = answer.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["code"] == code
    assert metric_value(gateway, "gateway_requests_total", **labels) == before + 1
    assert (
        metric_value(
            gateway, "gateway_request_duration_seconds_count", endpoint=endpoint, route="-"
        )
        == durations + 1
    )
    [line] = access_lines(caplog, request_id)
    assert (line["method"], line["path"], line["status"]) == (method, path, status)
    assert line["endpoint"] == endpoint
    assert line["tenant"] == tenant
    assert line["error_code"] == code
    assert line["duration_ms"] >= 0


def test_an_unexpected_failure_is_a_logged_500_in_openai_shape(
    gateway: GatewayServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)

    async def broken() -> None:
        raise RuntimeError("ledger flush failed")

    monkeypatch.setattr(gateway.app.services.ledger, "flush", broken)
    answer = httpx.get(
        f"{gateway.root}/v1/gateway/usage",
        headers={"Authorization": f"Bearer {gateway.token('alpha')}"},
    )
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert "ledger flush failed" not in answer.text
    assert any("ledger flush failed" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    [line] = access_lines(caplog, answer.headers["x-gateway-request-id"])
    assert (line["status"], line["error_code"], line["tenant"]) == (500, "internal_error", "alpha")
