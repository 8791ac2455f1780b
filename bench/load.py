"""Load generation: wrk for throughput/latency, a raw asyncio client for streaming TTFB."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

WRK_SCRIPT = Path(__file__).with_name("wrk.lua")


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    rps: float
    bytes: int
    non_2xx: int  # wrk's "Non-2xx or 3xx responses" (status >= 400)
    socket_errors: dict[str, int]  # connect, read, write, timeout
    latency_ms: dict[str, float]  # mean, stdev, max, p50, p90, p99, p999

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())


def run_wrk(
    url: str,
    *,
    body: str,
    accept: str,
    authorization: str,
    duration_s: int,
    connections: int,
    header: str = "",
) -> WrkResult:
    """Run ``wrk -t1`` against ``url`` and return its summary (raises ``RuntimeError``)."""
    argv = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration_s}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        url,
    ]
    env = {
        **os.environ,
        "BENCH_BODY": body,
        "BENCH_ACCEPT": accept,
        "BENCH_AUTHORIZATION": authorization,
        "BENCH_HEADER": header,
    }
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=duration_s + 60)
    finally:
        if proc.poll() is None:  # interrupted or stuck: never leave wrk running
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = stdout.decode(errors="replace")
    for line in text.splitlines():
        if line.startswith("BENCH_JSON "):
            raw = json.loads(line.removeprefix("BENCH_JSON "))
            break
    else:
        raise RuntimeError(
            f"wrk exited {proc.returncode} without a summary: "
            f"{stderr.decode(errors='replace').strip() or text.strip()}"
        )
    duration = raw["duration_us"] / 1e6
    errors = raw["errors"]
    return WrkResult(
        requests=raw["requests"],
        duration_s=duration,
        rps=raw["requests"] / duration if duration else 0.0,
        bytes=raw["bytes"],
        non_2xx=errors.pop("status"),
        socket_errors=errors,
        latency_ms={k: v / 1000 for k, v in raw["latency_us"].items()},
    )


# --- streaming time-to-first-byte -------------------------------------------------------


@dataclass
class TtfbResult:
    ttfb_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None

    def error(self, message: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = message


class _Response:
    status: int = 0
    keep_alive: bool = True
    body: bytes = b""
    ttfb: float = 0.0
    total: float = 0.0


def _dechunk(data: bytes | bytearray) -> bytes | None:
    """Decode a chunked body; ``None`` while it is incomplete."""
    out = bytearray()
    pos = 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(data[pos:eol]).split(b";")[0], 16)
        if size == 0:
            return bytes(out) if data.find(b"\r\n\r\n", eol) >= 0 else None
        start = eol + 2
        if len(data) < start + size + 2:
            return None
        out += data[start : start + size]
        pos = start + size + 2


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> _Response:
    """Send one request; time the first body byte on the wire and the complete body."""
    resp = _Response()
    t0 = time.perf_counter()
    writer.write(request)
    await writer.drain()

    buf = bytearray()
    first_at: float | None = None
    while (head_end := buf.find(b"\r\n\r\n")) < 0:
        data = await reader.read(65536)
        if not data:
            raise ConnectionError("connection closed before the response headers")
        buf += data
    if len(buf) > head_end + 4:
        first_at = time.perf_counter()
    head = bytes(buf[:head_end]).decode("latin-1").split("\r\n")
    resp.status = int(head[0].split()[1])
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    body = buf[head_end + 4 :]
    chunked = "chunked" in headers.get("transfer-encoding", "")
    length = None if chunked else headers.get("content-length")
    resp.keep_alive = headers.get("connection") != "close" and (chunked or length is not None)

    while True:
        if chunked:
            decoded = _dechunk(body)
            if decoded is not None:
                resp.body = decoded
                break
        elif length is not None and len(body) >= int(length):
            resp.body = bytes(body[: int(length)])
            break
        data = await reader.read(65536)
        if not data:
            if chunked or length is not None:
                raise ConnectionError("connection closed mid-body")
            resp.body = bytes(body)
            break
        if first_at is None:
            first_at = time.perf_counter()
        body += data
    end = time.perf_counter()
    resp.ttfb = (first_at or end) - t0
    resp.total = end - t0
    return resp


async def ttfb_batch(
    port: int,
    path: str,
    *,
    body: bytes,
    authorization: str,
    marker: bytes,
    requests: int,
    result: TtfbResult,
    accept: str = "text/event-stream",
    pause_s: float = 0.0,
) -> None:
    """Send ``requests`` sequential requests (streaming unless ``accept`` says otherwise) on
    one keep-alive connection (plus one unmeasured warm-up request), ``pause_s`` apart (a
    client's think time), and add the timings to ``result``."""
    request = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Authorization: {authorization}\r\n"
        "Content-Type: application/json\r\n"
        f"Accept: {accept}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    ).encode() + body
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    try:
        for i in range(requests + 1):
            if pause_s and i:
                await asyncio.sleep(pause_s)
            if conn is None:
                conn = await asyncio.open_connection("127.0.0.1", port)
            try:
                resp = await asyncio.wait_for(_exchange(*conn, request), timeout=30)
            except (OSError, TimeoutError, ValueError, IndexError) as exc:
                result.error(f"{type(exc).__name__}: {exc}")
                conn[1].close()
                conn = None
                continue
            if not resp.keep_alive:
                conn[1].close()
                conn = None
            if i == 0:
                continue  # warm-up
            if resp.status != 200 or marker not in resp.body:
                result.error(f"HTTP {resp.status}: {resp.body[:200]!r}")
                continue
            result.ttfb_ms.append(resp.ttfb * 1000)
            result.total_ms.append(resp.total * 1000)
    finally:
        if conn is not None:
            conn[1].close()
            with contextlib.suppress(OSError):
                await conn[1].wait_closed()
