"""A client that reads slowly holds the upstream back; the gateway buffers a bounded amount.

The upstream here is an endless SSE stream (an OpenAI-shaped ``response.output_text.delta``
every ~1 KB) that counts what it has managed to write, waiting for the socket to drain as a
real server does. A client that reads 4 KB and then stops must stall it within a bounded
number of bytes (the socket buffers along the way, not an unbounded queue in the gateway);
when the client hangs up, the upstream connection is closed too and the call is metered.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.endless import EndlessUpstream
from harness import GatewayServer, config_dict, ledger_rows


def _max_buffer(kind: str) -> int:
    return int(Path(f"/proc/sys/net/ipv4/tcp_{kind}").read_text().split()[2])


# What may sit in flight without the gateway holding it: the kernel's socket buffers on the
# way (upstream's send, the gateway's receive from it, the gateway's send to the client) at
# their autotuning maxima. The process's memory meanwhile is a benchmark figure:
# bench/slow_reader.py reports it.
KERNEL_BOUND = 2 * _max_buffer("wmem") + _max_buffer("rmem")


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[EndlessUpstream, GatewayServer, str]]:
    db = f"sqlite:///{tmp_path / 'gateway.db'}"
    with EndlessUpstream() as upstream:
        url = f"http://127.0.0.1:{upstream.port}/v1"
        with GatewayServer(config_dict(url), database_url=db) as gw:
            yield upstream, gw, db


@pytest.mark.slow
def test_a_slow_reader_stalls_the_upstream_and_hanging_up_closes_it(
    setup: tuple[EndlessUpstream, GatewayServer, str],
) -> None:
    upstream, gw, db = setup
    body = json.dumps({"model": "gpt-5-nano", "input": "go on forever", "stream": True})
    request = (
        f"POST /v1/responses HTTP/1.1\r\nhost: gateway\r\n"
        f"authorization: Bearer {gw.token('alpha')}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n{body}"
    ).encode()
    port = int(gw.root.rsplit(":", 1)[1])
    client = socket.create_connection(("127.0.0.1", port))
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    client.sendall(request)
    got = b""
    while len(got) < 4096:
        got += client.recv(4096)
    assert got.startswith(b"HTTP/1.1 200")
    # The client stops reading. The upstream may fill the buffers on the way, then must stall.
    time.sleep(1.5)
    first = upstream.written
    time.sleep(1.5)
    assert upstream.written == first, "the upstream kept writing: something buffers unbounded"
    assert 0 < first < KERNEL_BOUND, f"{first} bytes in flight for a client that read 4 KB"
    assert not upstream.closed.is_set()
    client.close()  # hanging up: the gateway must close the upstream connection too
    # Generous: how soon is a figure of bench/slow_reader.py; that it happens is the behaviour.
    assert upstream.closed.wait(10), "the upstream connection outlived the client"
    [row] = ledger_rows(db, at_least=1)
    assert row["outcome"] == "client_gone"
    assert row["estimated"], "cut before its usage came: estimated from what was relayed"
