"""Slow reader: what a client that stops reading a stream costs the gateway, in bytes and time.

The figures behind tests/api/test_backpressure.py, which checks the behaviour (the upstream
stalls within the kernel's socket buffers; hanging up closes it and the call is metered).
Here: how much the process's RSS grew while the stream was stalled, how many bytes the
upstream got out before it stalled, and how soon after the client hung up the gateway
closed the upstream connection. The gateway runs in this process (a thread, as in the tests),
against an upstream that streams without end (tests/fakes/endless.py).

``--json`` prints the figures as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fakes.endless import EndlessUpstream  # noqa: E402
from harness import GatewayServer, config_dict  # noqa: E402

RSS_BUDGET_MB = 4.0  # aiohttp's read buffer and a chunk in the relay, with room
CLOSE_BUDGET_S = 3.0  # hang-up to upstream closed


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


def _kernel_bound() -> int:
    """The socket buffers on the way at their autotuning maxima (as in the test)."""

    def most(kind: str) -> int:
        return int(Path(f"/proc/sys/net/ipv4/tcp_{kind}").read_text().split()[2])

    return 2 * most("wmem") + most("rmem")


def measure(settle_s: float) -> dict[str, object]:
    with (
        tempfile.TemporaryDirectory() as work,
        EndlessUpstream() as upstream,
        GatewayServer(
            config_dict(f"http://127.0.0.1:{upstream.port}/v1"),
            database_url=f"sqlite:///{Path(work) / 'gateway.db'}",
        ) as gw,
    ):
        body = json.dumps({"model": "gpt-5-nano", "input": "go on forever", "stream": True})
        request = (
            f"POST /v1/responses HTTP/1.1\r\nhost: gateway\r\n"
            f"authorization: Bearer {gw.token('alpha')}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n{body}"
        ).encode()
        client = socket.create_connection(("127.0.0.1", int(gw.root.rsplit(":", 1)[1])))
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        rss_before = _rss_mb()
        client.sendall(request)
        got = b""
        while len(got) < 4096:
            got += client.recv(4096)
        time.sleep(settle_s)  # the buffers on the way fill, then the upstream stalls
        stalled_at = upstream.written
        time.sleep(settle_s)
        still = upstream.written == stalled_at
        rss_growth = _rss_mb() - rss_before
        client.close()
        hung_up = time.monotonic()
        closed = upstream.closed.wait(30)
        close_s = time.monotonic() - hung_up
    over = [
        name
        for name, bad in (
            ("RSS growth", rss_growth >= RSS_BUDGET_MB),
            ("close after hang-up", not closed or close_s >= CLOSE_BUDGET_S),
            ("upstream not stalled", not still),
        )
        if bad
    ]
    return {
        "upstream_bytes_before_stall": stalled_at,
        "kernel_buffer_bound_bytes": _kernel_bound(),
        "rss_growth_mb": round(rss_growth, 2),
        "rss_budget_mb": RSS_BUDGET_MB,
        "upstream_closed_after_hang_up_s": round(close_s, 3) if closed else None,
        "close_budget_s": CLOSE_BUDGET_S,
        "over_budget": over,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=1.5, help="seconds per stall window")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = measure(args.settle)
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        print(f"{key:32s} {value}")


if __name__ == "__main__":
    main()
