"""No secret escapes: the upstream key and the client's JWT never appear in any output."""

from __future__ import annotations

import logging

import httpx
import pytest
from harness import UPSTREAM_KEY, GatewayServer

from fake_openai import FakeOpenAIServer, Fault

FAULTS = [
    Fault(path="/v1/responses", status=500),
    Fault(path="/v1/responses", status=429, headers={"retry-after": "1"}),
    Fault(path="/v1/responses", status=503, body=b"<html>upstream proxy error</html>"),
    Fault(path="/v1/responses", drop_connection=True),
    Fault(path="/v1/responses", drop_after_events=2),
    Fault(path="/v1/responses", status=401),  # the upstream refusing the gateway's key
]


def test_every_error_path_keeps_secrets_out_of_bodies_headers_logs_and_metrics(
    gateway: GatewayServer, fake: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    jwt = gateway.token("alpha")
    auth = {"Authorization": f"Bearer {jwt}"}
    seen: list[str] = []

    def call(method: str, path: str, **kw: object) -> None:
        resp = httpx.request(method, f"{gateway.base_url}{path}", timeout=10, **kw)  # type: ignore[arg-type]
        seen.append(repr(resp.headers) + resp.text)

    for fault in FAULTS:
        fake.inject(fault)
        call(
            "POST",
            "/responses",
            headers=auth,
            json={"model": "gpt-5-nano", "input": "x", "stream": True},
        )
        fake.inject(fault)
        call("POST", "/responses", headers=auth, json={"model": "gpt-5-nano", "input": "x"})
    call(
        "POST",
        "/responses",
        headers={"Authorization": f"Bearer {jwt}x"},
        json={"model": "gpt-5-nano"},
    )
    call("POST", "/responses", headers=auth, content=b"{broken")
    call("POST", "/responses", headers=auth, json={"model": "gpt-4.1", "input": "x" * 100_000})
    call("GET", "/responses/resp_nobody", headers=auth)
    call("GET", "/gateway/usage", headers=auth)
    seen.append(httpx.get(gateway.metrics_url).text)
    seen.extend(record.getMessage() for record in caplog.records)
    seen.extend(str(record.exc_info) for record in caplog.records if record.exc_info)
    everything = "\n".join(seen)
    assert UPSTREAM_KEY not in everything
    assert UPSTREAM_KEY[-8:] not in everything
    assert jwt not in everything
    assert jwt.split(".")[2] not in everything, "not even the token's signature"
