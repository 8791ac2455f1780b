"""Soak: a long mixed load on a real `gateway serve`, watching memory, sockets and the ledger.

Starts the fake OpenAI upstream (in this process) and `gateway serve` (its own process, its
own SQLite ledger), then sends ``--requests`` calls through aiohttp with ``--concurrency``
in flight: Responses and Chat, JSON and streams, across three tenants. Afterwards it checks
that every call succeeded and is in the ledger exactly once, and reports the gateway's RSS
and open file descriptors after the warm-up and at the end. A last phase sends a burst
above one tenant's concurrency limit: everything must come back as 200 or a clean 429,
never a timeout or a 5xx.

``bench/soak.py --requests 100000`` is the full soak (a few minutes); ``tests/test_soak.py``
runs a bounded one and checks the behaviour (every call answered and in the ledger once, no
leaked descriptor, clean 429s). The RSS growth is a figure reported here against its budget
(``over_budget`` names what exceeded one). ``--json`` prints the figures as JSON (what the
test reads).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fake_openai import FakeOpenAIServer  # noqa: E402
from gateway.auth import mint_token  # noqa: E402
from gateway.config import compile_config, parse_config  # noqa: E402

UPSTREAM_KEY = "sk-soak-upstream-key"
JWT_SECRET = "soak-jwt-secret-with-enough-entropy-0123456789"
TENANTS = ("soak-a", "soak-b", "soak-c")
LIMITED = "soak-limited"
_CHUNK = 5000
RSS_GROWTH_BUDGET_MB = 10.0  # after the warm-up, over the whole run


def _config(upstream: str) -> str:
    return f"""
auth: {{algorithms: [HS256], hs256_secret_env: SOAK_JWT_SECRET}}
upstreams:
  openai: {{base_url: "{upstream}", api_key_env: SOAK_UPSTREAM_KEY, retries: {{max_retries: 0}}}}
models:
  gpt-5-nano: {{}}
  gpt-4o-mini: {{}}
tenants:
  soak-a: {{models: ["*"], budgets: {{daily_usd: 1000}}, limits: {{rpm: 1000000}}}}
  soak-b: {{models: ["*"]}}
  soak-c: {{models: ["*"], max_output_tokens: 64}}
  {LIMITED}: {{models: ["*"], limits: {{concurrent: 4}}}}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _proc_figures(pid: int) -> tuple[float, int]:
    """(RSS in MB, open file descriptors) of a process."""
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    return rss_kb / 1024, len(os.listdir(f"/proc/{pid}/fd"))


def _calls(i: int) -> tuple[str, dict[str, Any], bool]:
    """The i-th call of the mix: (path, body, stream)."""
    kind = i % 4
    if kind < 2:
        body = {"model": "gpt-5-nano", "input": f"soak call {i} about ledgers", "stream": kind == 1}
        return "/v1/responses", body, kind == 1
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": f"soak chat {i}"}],
        "stream": kind == 3,
    }
    return "/v1/chat/completions", body, kind == 3


async def _one(session: aiohttp.ClientSession, base: str, token: str, i: int) -> int:
    path, body, stream = _calls(i)
    headers = {"authorization": f"Bearer {token}"}
    async with session.post(base + path, json=body, headers=headers) as resp:
        if stream:
            async for _chunk in resp.content.iter_any():
                pass
        else:
            await resp.read()
        return resp.status


async def _phase(
    base: str, tokens: list[str], start: int, count: int, concurrency: int
) -> dict[int, int]:
    statuses: dict[int, int] = {}
    queue = iter(range(start, start + count))
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

        async def worker() -> None:
            for i in queue:
                try:
                    status = await _one(session, base, tokens[i % len(tokens)], i)
                except (TimeoutError, aiohttp.ClientError):
                    status = -1  # a timeout or a broken connection: never acceptable
                statuses[status] = statuses.get(status, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def _ledger_rows(db: Path, expected: int, timeout_s: float = 10) -> int:
    deadline = time.monotonic() + timeout_s
    while True:
        with sqlite3.connect(db) as conn:
            (rows,) = conn.execute("SELECT count(*) FROM ledger").fetchone()
            (distinct,) = conn.execute(
                "SELECT count(*) FROM (SELECT DISTINCT request_id, attempt FROM ledger)"
            ).fetchone()
        assert rows == distinct, "a call recorded twice"
        if rows >= expected or time.monotonic() > deadline:
            return int(rows)
        time.sleep(0.2)


def soak(requests: int, concurrency: int, warmup: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="gateway-soak-"))
    fake = FakeOpenAIServer(api_key=UPSTREAM_KEY)
    upstream = fake.__enter__()
    proc: subprocess.Popen[bytes] | None = None
    try:
        config_text = _config(upstream.base_url)
        (work / "gateway.yaml").write_text(config_text)
        shutil.copy(ROOT / "config" / "pricing.yaml", work / "pricing.yaml")
        env = {
            **os.environ,
            "SOAK_JWT_SECRET": JWT_SECRET,
            "SOAK_UPSTREAM_KEY": UPSTREAM_KEY,
            "GATEWAY_DATABASE_URL": f"sqlite:///{work / 'ledger.db'}",
            "GATEWAY_LOG_LEVEL": "warning",
            "GATEWAY_METRICS_PORT": "off",  # not scraped here; 9464 may be taken
        }
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", str(work / "gateway.yaml"),
             "--port", str(port)],
            env=env, cwd=work, stdout=(work / "gateway.log").open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert proc.poll() is None, (work / "gateway.log").read_text()
                assert time.monotonic() < deadline, "the gateway did not start"
                time.sleep(0.1)
        runtime = compile_config(parse_config(config_text), env)
        assert runtime.hs_secret is not None
        tokens = [
            mint_token(runtime.auth, runtime.hs_secret, t, admin=False, ttl_s=3600, subject="soak")
            for t in TENANTS
        ]
        started = time.monotonic()
        warm = asyncio.run(_phase(base, tokens, 0, warmup, concurrency))
        upstream.clear()
        rss_start, fds_start = _proc_figures(proc.pid)
        main: dict[int, int] = {}
        for start in range(warmup, requests, _CHUNK):
            count = min(_CHUNK, requests - start)
            main = _sum(main, asyncio.run(_phase(base, tokens, start, count, concurrency)))
            upstream.clear()  # the fake keeps every request and prompt: not the gateway's cost
        took = time.monotonic() - started
        time.sleep(0.5)  # idle keep-alive sockets of the load client are gone
        rss_end, fds_end = _proc_figures(proc.pid)
        rows = _ledger_rows(work / "ledger.db", requests)
        limited = mint_token(
            runtime.auth, runtime.hs_secret, LIMITED, admin=False, ttl_s=3600, subject="soak"
        )
        burst = asyncio.run(_phase(base, [limited], 0, 200, 32))
        return {
            "requests": requests,
            "concurrency": concurrency,
            "seconds": round(took, 1),
            "statuses": {str(k): v for k, v in sorted(_sum(warm, main).items())},
            "ledger_rows": rows,
            "rss_mb_after_warmup": round(rss_start, 1),
            "rss_mb_end": round(rss_end, 1),
            "rss_growth_mb": round(rss_end - rss_start, 1),
            "rss_growth_budget_mb": RSS_GROWTH_BUDGET_MB,
            "over_budget": ["RSS growth"] if rss_end - rss_start >= RSS_GROWTH_BUDGET_MB else [],
            "fds_after_warmup": fds_start,
            "fds_end": fds_end,
            "over_limit_burst": {str(k): v for k, v in sorted(burst.items())},
        }
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        fake.__exit__(None, None, None)
        shutil.rmtree(work, ignore_errors=True)


def _sum(a: dict[int, int], b: dict[int, int]) -> dict[int, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in a.keys() | b.keys()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = soak(args.requests, args.concurrency, min(args.warmup, args.requests // 2))
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        print(f"{key:22s} {value}")


if __name__ == "__main__":
    main()
