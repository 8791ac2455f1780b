"""The production configuration against the floor: one replica, four rows, one run.

`bench/run`'s headline is a tenant without limits, which never touches the quota.
Production runs tenants with rate limits and strict budgets, on Redis and
PostgreSQL. This measures, in the same interleaved rounds (medians), one process
each (1 uvicorn worker, uvloop), nginx as the upstream, wrk at 64 connections:

- ``passthrough``: the raw-ASGI aiohttp passthrough (`passthrough_aiohttp.py`), the floor;
- ``unlimited``: the gateway, tenant ``bench`` (no limits or budgets), SQLite ledger;
- ``budgeted``: the same gateway process, tenant ``budgeted`` (RPM, TPM, concurrency,
  strict daily and monthly budgets, all set high enough never to refuse), in-memory quota;
- ``production``: another gateway, the same tenant on the Redis quota
  (``GATEWAY_REDIS_URL``) and a PostgreSQL ledger (``GATEWAY_DATABASE_URL``, migrated
  with ``gateway db upgrade`` first), a real server started here (`postgres.py`);
- ``scoped`` and ``scoped production``: the same two gateways, tenant ``scoped``: the
  budgeted tenant's limits plus a service (the token's subject) with RPM, TPM,
  concurrency and a budget of its own, and a tag budget the calls count against
  (``x-gateway-tags``). What services and tags cost a call.

For each: req/s at saturation, CPU ms per request of the target's process tree and
its ratio to the passthrough's, wrk's latency p50/p99 (closed loop, so queueing
included); for ``production`` also the Redis server's CPU and the PostgreSQL
server's (the postmaster and all its children) per call. What a replica core and
a Redis core carry follows from those (the README's capacity guide).

``--slow-fsync-ms MS`` simulates a slow disk under the gateways: every fsync of theirs
sleeps MS first (`slowsync.c`, compiled with ``cc`` and loaded with LD_PRELOAD). The
ledger's SQLite checkpoints are what fsync; they run off the event loop
(`gateway.ledger.checkpoint`), so the p99 should not move (decision 15 in the README).

Usage: ``bench/scale.py [--rounds 3] [--duration 8] [--scenarios responses,responses-stream]
[--slow-fsync-ms 0] [--results bench/RESULTS.md]``. Develop with ``--rounds 2 --duration 5``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run as bench  # noqa: E402
from load import run_wrk  # noqa: E402
from postgres import start_postgres  # noqa: E402
from procs import Supervisor, cpu_seconds, free_port, write_section  # noqa: E402

SECTION = "## Production configuration: one replica, budgeted tenant, Redis + PostgreSQL"
TENANT = "budgeted"
POLICY = {
    "models": ["*"],
    "limits": {"rpm": 10_000_000, "tpm": 10_000_000_000, "concurrent": 100_000},
    "budgets": {"daily_usd": 1_000_000, "monthly_usd": 10_000_000},
}
SCOPED = "scoped"
SCOPED_POLICY = {
    **POLICY,
    "tags": {"keys": ["feature", "env"], "budgets": {"feature=search": {"daily_usd": 1_000_000}}},
    "services": {
        "known": {
            "indexer": {
                "limits": {"rpm": 10_000_000, "tpm": 10_000_000_000, "concurrent": 100_000},
                "budgets": {"daily_usd": 1_000_000, "monthly_usd": 10_000_000},
            }
        }
    },
}
TAGS_HEADER = "x-gateway-tags: feature=search,env=prod"
ROWS = ("passthrough", "unlimited", "budgeted", "scoped", "production", "scoped-production")
TITLES = {
    "passthrough": "aiohttp passthrough",
    "unlimited": "gateway, tenant without limits",
    "budgeted": "gateway, budgeted tenant, in-memory quota, SQLite",
    "scoped": "gateway, budgeted tenant + service limits + tag budget, in memory",
    "production": "gateway, budgeted tenant, Redis quota, PostgreSQL",
    "scoped-production": "gateway, + service limits + tag budget, Redis, PostgreSQL",
}
SHARED = ("production", "scoped-production")


@dataclass
class Row:
    """One measured row: the URL's target, the process tree charged, the caller's token."""

    target: Any  # bench.Target
    pid: int
    authorization: str
    header: str = ""  # one more request header (the tags)


@dataclass
class Sample:
    rps: float
    cpu_ms: float
    p50_ms: float
    p99_ms: float
    redis_us: float
    pg_us: float
    errors: int


def _redis(sup: Supervisor) -> tuple[int, int]:
    port = free_port()
    service = sup.spawn(
        "redis",
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
    )  # fmt: skip
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return port, service.pid
        except OSError:
            time.sleep(0.02)
    raise SystemExit("bench: redis-server did not start")


def _config(folder: Path) -> Path:
    """The config in a folder of its own: its watcher would see every write of a database
    beside it (measured within noise, but a deployment keeps them apart)."""
    folder.mkdir()
    data: dict[str, Any] = yaml.safe_load((bench.REPO_ROOT / bench.GATEWAY_CONFIG).read_text())
    data["tenants"][TENANT] = POLICY
    data["tenants"][SCOPED] = SCOPED_POLICY
    path = folder / "gateway.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    shutil.copy(bench.REPO_ROOT / "config/pricing.yaml", folder / "pricing.yaml")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--scenarios", default="responses", help="e.g. responses,responses-stream")
    parser.add_argument("--results", default=None, help="also write the section into this file")
    parser.add_argument(
        "--slow-fsync-ms", type=float, default=0.0,
        help="a slow disk: every fsync of the gateways takes this much longer (needs cc)",
    )  # fmt: skip
    args = parser.parse_args()
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for name in args.scenarios:
        if name not in bench.SCENARIOS:
            raise SystemExit(f"bench: unknown scenario {name!r} ({', '.join(bench.SCENARIOS)})")
    nginx = bench._find_binary("nginx")
    bench._find_binary("wrk")
    if not shutil.which("redis-server"):
        raise SystemExit("bench: redis-server not found (apt-get install redis-server)")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        sup = Supervisor(workdir / "logs")
        try:
            samples = _measure(sup, workdir, nginx, args)
        finally:
            sup.close()
    section = _report(samples, args)
    print(section)
    if args.results:
        write_section(args.results, SECTION, section)
    return 0


def _gateway(sup: Supervisor, name: str, config: Path, env: dict[str, str], workdir: Path) -> Any:
    target = bench.Target(f"gateway-{name}", free_port())
    bench._start_gateway(sup, target, [str(bench.BIN_DIR / "gateway")], config, env, workdir,
                         tenant=TENANT)  # fmt: skip
    if target.error:
        raise SystemExit(f"bench: {target.name}: {target.error}")
    return target


def _slow_disk(workdir: Path, ms: float) -> dict[str, str]:
    """The environment that makes a gateway's fsyncs ``ms`` slower (`slowsync.c`)."""
    if not ms:
        return {}
    shim = workdir / "slowsync.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(shim), str(BENCH / "slowsync.c"),
                    "-ldl"], check=True)  # fmt: skip
    return {"LD_PRELOAD": str(shim), "SLOW_SYNC_US": str(int(ms * 1000))}


def _start(
    sup: Supervisor, workdir: Path, nginx: str, slow_fsync_ms: float
) -> tuple[dict[str, Row], int, int]:
    """Every process; the rows to measure, and the Redis and postmaster pids."""
    upstream = bench.start_nginx(sup, nginx, workdir)
    passthrough = bench.start_passthrough(sup, bench.AIOHTTP, "passthrough_aiohttp", upstream.port)
    if passthrough.error or passthrough.service is None:
        raise SystemExit(f"bench: passthrough: {passthrough.error}")
    redis_port, redis_pid = _redis(sup)
    pg_url, pg_pid = start_postgres(sup, workdir)
    config = _config(workdir / "config")
    gateway = str(bench.BIN_DIR / "gateway")
    slow = _slow_disk(workdir, slow_fsync_ms)
    memory_env = {**bench._gateway_env(upstream.port, workdir / "m.db"), **slow}
    memory = _gateway(sup, "memory", config, memory_env, workdir)
    env = {
        **bench._gateway_env(upstream.port, workdir / "unused.db"),
        **slow,
        "GATEWAY_DATABASE_URL": pg_url,
        "GATEWAY_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
    }
    subprocess.run([gateway, "db", "upgrade"], env=env, cwd=workdir, check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    production = _gateway(sup, "production", config, env, workdir)
    tokens = {}
    for tenant, subject in (("bench", "dev"), (SCOPED, "indexer")):
        token, error = bench._gateway_token(
            [gateway, "token", "--tenant", tenant, "--subject", subject, "--config", str(config)],
            memory_env, workdir,
        )  # fmt: skip
        if token is None:
            raise SystemExit(f"bench: token for {tenant}: {error}")
        tokens[tenant] = f"Bearer {token}"
    assert memory.service
    assert production.service
    rows = {
        "passthrough": Row(passthrough, passthrough.service.pid, "Bearer bench-client-token"),
        "unlimited": Row(memory, memory.service.pid, tokens["bench"]),
        "budgeted": Row(memory, memory.service.pid, memory.authorization),
        "scoped": Row(memory, memory.service.pid, tokens[SCOPED], TAGS_HEADER),
        "production": Row(production, production.service.pid, production.authorization),
        "scoped-production": Row(production, production.service.pid, tokens[SCOPED], TAGS_HEADER),
    }
    return rows, redis_pid, pg_pid


Samples = dict[str, dict[str, list[Sample]]]  # scenario -> row -> rounds


def _measure(sup: Supervisor, workdir: Path, nginx: str, args: Any) -> Samples:
    rows, redis_pid, pg_pid = _start(sup, workdir, nginx, args.slow_fsync_ms)
    samples: Samples = {s: {r: [] for r in ROWS} for s in args.scenarios}
    for rnd in range(args.rounds):
        for scenario_name in args.scenarios:
            scenario = bench.SCENARIOS[scenario_name]
            for name, row in rows.items():
                wrk: dict[str, Any] = {
                    "body": scenario.body_text, "accept": scenario.accept,
                    "authorization": row.authorization, "connections": args.connections,
                    "header": row.header,
                }  # fmt: skip
                url = row.target.url(scenario)
                run_wrk(url, duration_s=2, **wrk)  # warm-up
                before = (cpu_seconds(row.pid), cpu_seconds(redis_pid), cpu_seconds(pg_pid))
                result = run_wrk(url, duration_s=args.duration, **wrk)
                after = (cpu_seconds(row.pid), cpu_seconds(redis_pid), cpu_seconds(pg_pid))
                n = max(result.requests, 1)
                cpu, redis_cpu, pg_cpu = (a - b for a, b in zip(after, before, strict=True))
                sample = Sample(
                    result.rps, cpu * 1e3 / n, result.latency_ms["p50"],
                    result.latency_ms["p99"], redis_cpu * 1e6 / n, pg_cpu * 1e6 / n,
                    result.errors,
                )  # fmt: skip
                samples[scenario_name][name].append(sample)
                print(
                    f"round {rnd + 1} {scenario_name} {name:11} {sample.rps:7.0f} req/s "
                    f"{sample.cpu_ms:.3f} CPU ms/req  p50 {sample.p50_ms:.1f} "
                    f"p99 {sample.p99_ms:.1f} ms  redis {sample.redis_us:.1f} µs  "
                    f"pg {sample.pg_us:.1f} µs  errors {sample.errors}",
                    flush=True,
                )
    return samples


def _median(rounds: list[Sample]) -> Sample:
    return Sample(
        *(statistics.median(getattr(s, f) for s in rounds) for f in Sample.__dataclass_fields__)
    )


def _report(samples: Samples, args: Any) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    git = ["git", "-C", str(bench.REPO_ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "--", "gateway"], capture_output=True)
    revision = commit.stdout.strip() + (" + uncommitted changes" if dirty.stdout else "")
    lines = [
        SECTION,
        "",
        f"`bench/scale.py` on {stamp} (at {revision}): one process per target, 1 uvicorn "
        f"worker, wrk at {args.connections} connections, nginx upstream; medians of "
        f"{args.rounds} interleaved rounds of {args.duration} s. This machine: "
        f"{_cores()} cores shared by wrk, nginx, Redis, PostgreSQL and the targets."
        + (f" A slow disk, simulated: every fsync of the gateways took {args.slow_fsync_ms:g} ms "
           "longer." if args.slow_fsync_ms else ""),
    ]  # fmt: skip
    for scenario_name, rows in samples.items():
        med = {name: _median(rounds) for name, rounds in rows.items()}
        floor = med["passthrough"].cpu_ms
        lines += [
            "",
            f"### {bench.SCENARIOS[scenario_name].title}",
            "",
            "| row | req/s | CPU ms/req | ÷ passthrough | p50 ms | p99 ms | Redis µs/call "
            "| PostgreSQL µs/call | errors |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, s in med.items():
            shared = name in SHARED
            redis = f"{s.redis_us:.1f}" if shared else "-"
            pg = f"{s.pg_us:.1f}" if shared else "-"
            lines.append(
                f"| {TITLES[name]} | {s.rps:,.0f} | {s.cpu_ms:.3f} | {s.cpu_ms / floor:.2f}x "
                f"| {s.p50_ms:.1f} | {s.p99_ms:.1f} | {redis} | {pg} | {s.errors:.0f} |"
            )
        free, budgeted, prod = med["unlimited"], med["budgeted"], med["production"]
        scoped, scoped_prod = med["scoped"], med["scoped-production"]
        lines += [
            "",
            f"Services and tags: scoped ÷ budgeted {scoped.cpu_ms / budgeted.cpu_ms:.3f}x CPU "
            f"in memory, {scoped_prod.cpu_ms / prod.cpu_ms:.3f}x on Redis + PostgreSQL "
            f"(Redis {scoped_prod.redis_us - prod.redis_us:+.1f} µs/call).",
            "",
            f"Budgeted ÷ unlimited: {budgeted.cpu_ms / free.cpu_ms:.2f}x CPU, p99 "
            f"{budgeted.p99_ms / free.p99_ms:.2f}x. Production ÷ passthrough: "
            f"{prod.cpu_ms / floor:.2f}x. One replica core serves about "
            f"{1000 / prod.cpu_ms:,.0f} budgeted calls a second on Redis + PostgreSQL; one Redis "
            f"core about {1e6 / max(prod.redis_us, 1e-9):,.0f} "
            f"({prod.cpu_ms * 1e3 / max(prod.redis_us, 1e-9):.0f} replica cores), one "
            f"PostgreSQL core about {1e6 / max(prod.pg_us, 1e-9):,.0f}.",
        ]
    return "\n".join(lines) + "\n"


def _cores() -> int:
    return os.cpu_count() or 0


if __name__ == "__main__":
    raise SystemExit(main())
