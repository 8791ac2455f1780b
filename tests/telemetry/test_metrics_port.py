"""/metrics names every tenant's spend: it answers on its own port, and the public port says 404."""

from __future__ import annotations

import asyncio
import platform
import socket

import httpx
import pytest
from harness import GatewayServer

from gateway.config.model import ServerConfig
from gateway.settings import Settings
from gateway.telemetry.metrics_listener import (
    MetricsPortUnavailable,
    metrics_port,
    serve_metrics,
)


def test_the_public_port_answers_metrics_like_any_unknown_path(gateway: GatewayServer) -> None:
    public = httpx.get(f"{gateway.root}/metrics")
    unknown = httpx.get(f"{gateway.root}/no-such-path")
    assert public.status_code == unknown.status_code == 404
    assert public.json() == unknown.json()
    assert "gateway_" not in public.text


def test_the_metrics_port_serves_the_exposition_and_nothing_else(gateway: GatewayServer) -> None:
    scraped = httpx.get(gateway.metrics_url)
    assert scraped.status_code == 200
    assert scraped.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# TYPE gateway_requests_total counter" in scraped.text
    build = next(
        line for line in scraped.text.splitlines() if line.startswith("gateway_build_info{")
    )
    assert f'python="{platform.python_version()}"' in build
    assert 'version="' in build
    assert build.endswith(" 1.0")
    assert httpx.get(gateway.metrics_url.replace("/metrics", "/v1/models")).status_code == 404
    assert httpx.post(gateway.metrics_url).status_code == 404
    head = httpx.head(gateway.metrics_url)
    assert (head.status_code, head.content) == (200, b"")


def test_a_client_that_sends_garbage_or_nothing_is_closed_and_scrapes_go_on(
    gateway: GatewayServer,
) -> None:
    with socket.create_connection(("127.0.0.1", gateway.metrics_port)) as sock:
        sock.sendall(b"x" * 20_000)  # no end of headers within the limit
        sock.settimeout(5)
        try:
            answer = sock.recv(100)
        except ConnectionResetError:  # closed with our bytes unread: a reset, not an answer
            answer = b""
        assert answer == b""
    assert httpx.get(gateway.metrics_url).status_code == 200


def test_the_port_comes_from_the_environment_then_the_config_and_zero_is_none() -> None:
    server = ServerConfig(metrics_port=9100)
    assert metrics_port(Settings(), server) == 9100
    assert metrics_port(Settings(metrics_port=9200), server) == 9200
    assert metrics_port(Settings(metrics_port=0), server) == 0
    assert Settings.from_env({"GATEWAY_METRICS_PORT": "off"}).metrics_port == 0
    assert Settings.from_env({"GATEWAY_METRICS_PORT": "9300"}).metrics_port == 9300
    assert Settings.from_env({}).metrics_port is None
    for bad in ("http", "70000", "-1"):
        with pytest.raises(ValueError, match="GATEWAY_METRICS_PORT"):
            Settings.from_env({"GATEWAY_METRICS_PORT": bad})


def test_port_zero_listens_nowhere_and_a_taken_port_is_a_clear_error() -> None:
    async def scenario() -> None:
        async with serve_metrics(lambda: b"", "127.0.0.1", 0)(None):
            pass  # nothing to connect to, nothing to close
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(MetricsPortUnavailable, match=f"127.0.0.1:{port}"):
                async with serve_metrics(lambda: b"", "127.0.0.1", port)(None):
                    pass

    asyncio.run(scenario())
