"""A client that reads slowly holds the upstream back; the gateway buffers a bounded amount.

The upstream here is an endless SSE stream (an OpenAI-shaped ``response.output_text.delta``
every ~1 KB) that counts what it has managed to write, waiting for the socket to drain as a
real server does. A client that reads 4 KB and then stops must stall it within a bounded
number of bytes (the socket buffers along the way, not an unbounded queue in the gateway);
when the client hangs up, the upstream connection is closed too and the call is metered.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import GatewayServer, config_dict, ledger_rows


def _max_buffer(kind: str) -> int:
    return int(Path(f"/proc/sys/net/ipv4/tcp_{kind}").read_text().split()[2])


# What may sit in flight without the gateway holding it: the kernel's socket buffers on the
# way (upstream's send, the gateway's receive from it, the gateway's send to the client) at
# their autotuning maxima. The gateway's own memory is checked separately (RSS).
KERNEL_BOUND = 2 * _max_buffer("wmem") + _max_buffer("rmem")
RSS_BOUND = 4 * 2**20  # aiohttp's read buffer and a chunk in the relay, with room


def _rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096


DELTA = json.dumps(
    {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
     "content_index": 0, "delta": "x" * 900, "sequence_number": 0}
)  # fmt: skip


class EndlessUpstream:
    """HTTP/1.1 on a thread: answers every POST with a stream that never ends by itself."""

    def __init__(self) -> None:
        self.written = 0
        self.closed = threading.Event()
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        created = {"type": "response.created", "sequence_number": 0, "response": {
            "id": "resp_endless", "object": "response", "status": "in_progress",
            "model": "gpt-5-nano", "output": []}}  # fmt: skip
        frames = [f"event: response.created\ndata: {json.dumps(created)}\n\n".encode()]
        delta = f"event: response.output_text.delta\ndata: {DELTA}\n\n".encode()
        try:
            while True:
                for frame in frames or [delta]:
                    chunk = b"%x\r\n%s\r\n" % (len(frame), frame)
                    writer.write(chunk)
                    await writer.drain()  # blocks while the gateway does not read
                    self.written += len(chunk)
                frames = []
        except (ConnectionError, OSError):
            pass
        finally:
            self.closed.set()
            writer.close()

    def __enter__(self) -> EndlessUpstream:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


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
    rss_before = _rss()
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
    grown = _rss() - rss_before  # the gateway runs in this process (a thread)
    assert grown < RSS_BOUND, f"the process grew {grown} bytes while {first} were in flight"
    print(f"stalled at {first} bytes written upstream; process RSS {grown:+} bytes")
    assert not upstream.closed.is_set()
    client.close()  # hanging up: the gateway must close the upstream connection too
    hung_up = time.monotonic()
    assert upstream.closed.wait(10), "the upstream connection outlived the client"
    assert time.monotonic() - hung_up < 3
    [row] = ledger_rows(db, at_least=1)
    assert row["outcome"] == "client_gone"
    assert row["estimated"], "cut before its usage came: estimated from what was relayed"
