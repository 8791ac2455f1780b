"""Clients that hold connections without finishing their requests (slowloris) get 408, in time."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
from harness import GatewayServer, config_dict, merged

from fake_openai import FakeOpenAIServer

SERVER = {"header_timeout_s": 0.5, "body_timeout_s": 0.5}


@pytest.fixture(scope="module")
def gw(
    fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    db = tmp_path_factory.mktemp("slow") / "gateway.db"
    config = merged(config_dict(fake_server.base_url), {"server": SERVER})
    with GatewayServer(config, database_url=f"sqlite:///{db}") as g:
        yield g


def connect(gw: GatewayServer) -> socket.socket:
    host, port = gw.root.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.settimeout(5)
    return sock


def read_all(sock: socket.socket) -> tuple[bytes, float]:
    """Everything until the gateway closes the connection, and how long that took."""
    start, data = time.monotonic(), b""
    while chunk := sock.recv(4096):
        data += chunk
    return data, time.monotonic() - start


@pytest.mark.parametrize(
    "sent",
    [b"", b"POST /v1/responses HTTP/1.1\r\nHost: x\r\n", b"POST /v1/resp"],
    ids=["nothing", "headers-unfinished", "request-line-unfinished"],
)
def test_a_request_whose_headers_do_not_arrive_in_time_gets_408(
    gw: GatewayServer, sent: bytes
) -> None:
    with connect(gw) as sock:
        sock.sendall(sent)
        data, took = read_all(sock)
    assert data.startswith(b"HTTP/1.1 408 ")
    assert json.loads(data.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_timeout"
    assert took < 3, "the header deadline is 0.5 s"


def test_a_body_that_trickles_in_gets_408(gw: GatewayServer) -> None:
    with connect(gw) as sock:
        sock.sendall(
            b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + gw.token().encode()
            + b'\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"model":'
        )
        data, took = read_all(sock)
    assert data.startswith(b"HTTP/1.1 408 "), data[:100]
    assert b'"request_timeout"' in data
    assert took < 3


def test_a_keep_alive_connection_gets_a_fresh_deadline_for_each_request(gw: GatewayServer) -> None:
    with connect(gw) as sock:
        for _ in range(3):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
            time.sleep(0.3)  # each pause is shorter than the deadline; together they are not
