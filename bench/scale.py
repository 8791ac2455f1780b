"""Per-replica capacity with the shared backends: a budgeted tenant, in-memory vs Redis.

`bench/run`'s `bench` tenant has no limits or budgets, so it never touches the
quota store. This runs the case that does: one gateway process (1 uvicorn
worker) per backend, nginx as the upstream (as in `bench/run`), wrk at 64
connections, and a tenant with a daily budget, concurrency, RPM and TPM limits
set high enough never to refuse. It reports each gateway's req/s at saturation
and CPU ms per request, and Redis's own CPU per request; interleaved rounds,
medians.

That is the capacity of one replica on one core of this machine: the figure
the README's scaling guidance uses.

Usage: ``bench/scale.py [--rounds 3] [--duration 8] [--results bench/RESULTS.md]``
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run as bench  # noqa: E402
from load import run_wrk  # noqa: E402
from procs import Supervisor, cpu_seconds, free_port  # noqa: E402

SECTION = "## Scale-out: one replica's capacity on each quota backend"
TENANT = "budgeted"
POLICY = {
    "models": ["*"],
    "limits": {"rpm": 10_000_000, "tpm": 10_000_000_000, "concurrent": 100_000},
    "budgets": {"daily_usd": 1_000_000, "monthly_usd": 10_000_000},
}


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


def _config(workdir: Path) -> Path:
    data: dict[str, Any] = yaml.safe_load((bench.REPO_ROOT / bench.GATEWAY_CONFIG).read_text())
    data["tenants"][TENANT] = POLICY
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    shutil.copy(bench.REPO_ROOT / "config/pricing.yaml", workdir / "pricing.yaml")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--results", default=None, help="also write the section into this file")
    args = parser.parse_args()
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
        path = Path(args.results)
        text = path.read_text() if path.exists() else ""
        head, _, rest = text.partition(SECTION)
        tail = rest[rest.find("\n## ") :] if "\n## " in rest else ""
        path.write_text(head.rstrip("\n") + "\n\n" + section + tail)
        print(f"bench: wrote that section of {args.results}")
    return 0


Samples = dict[str, list[tuple[float, float, float, int]]]


def _measure(sup: Supervisor, workdir: Path, nginx: str, args: Any) -> Samples:
    upstream = bench.start_nginx(sup, nginx, workdir)
    redis_port, redis_pid = _redis(sup)
    config = _config(workdir)
    gateway = [str(bench.BIN_DIR / "gateway")]
    targets = {}
    for name, extra in (
        ("memory", {}),
        ("redis", {"GATEWAY_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}),
    ):
        env = {**bench._gateway_env(upstream.port, workdir / f"{name}.db"), **extra}
        target = bench.Target(f"gateway ({name})", free_port())
        bench._start_gateway(sup, target, gateway, config, env, workdir, tenant=TENANT)
        if target.error:
            raise SystemExit(f"bench: {target.name}: {target.error}")
        targets[name] = target
    scenario = bench.SCENARIOS["responses"]
    samples: Samples = {n: [] for n in targets}
    for rnd in range(args.rounds):
        for name, target in targets.items():
            assert target.service is not None
            wrk: dict[str, Any] = {
                "body": scenario.body_text, "accept": scenario.accept,
                "authorization": target.authorization, "connections": args.connections,
            }  # fmt: skip
            run_wrk(target.url(scenario), duration_s=2, **wrk)  # warm-up
            pid = target.service.pid
            before, redis_before = cpu_seconds(pid), cpu_seconds(redis_pid)
            result = run_wrk(target.url(scenario), duration_s=args.duration, **wrk)
            cpu = cpu_seconds(pid) - before
            redis_cpu = cpu_seconds(redis_pid) - redis_before
            n = max(result.requests, 1)
            samples[name].append((result.rps, cpu * 1e3 / n, redis_cpu * 1e6 / n, result.errors))
            print(
                f"round {rnd + 1} {name:6} {result.rps:8.0f} req/s  "
                f"{cpu * 1e3 / n:.3f} CPU ms/req  redis {redis_cpu * 1e6 / n:.1f} µs/req  "
                f"errors {result.errors}",
                flush=True,
            )
    return samples


def _report(samples: Samples, args: Any) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    git = ["git", "-C", str(bench.REPO_ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "--", "gateway"], capture_output=True)
    revision = commit.stdout.strip() + (" + uncommitted changes" if dirty.stdout else "")
    med = {
        name: [statistics.median(col) for col in zip(*rows, strict=True)]
        for name, rows in samples.items()
    }
    lines = [
        SECTION,
        "",
        f"`bench/scale.py` on {stamp} (at {revision}): one gateway process, 1 uvicorn worker,",
        f"POST /v1/responses non-streaming from wrk at {args.connections} connections, nginx",
        f"upstream, a tenant with limits and budgets; medians of {args.rounds} rounds of",
        f"{args.duration} s. This machine: 2 cores shared by wrk, nginx, Redis and the gateway.",
        "",
        "| backend | req/s | gateway CPU ms/req | Redis CPU µs/req | errors |",
        "|---|---|---|---|---|",
    ]
    for name, (rps, cpu_ms, redis_us, errors) in med.items():
        redis_col = f"{redis_us:.1f}" if name == "redis" else "-"
        lines.append(f"| {name} | {rps:,.0f} | {cpu_ms:.3f} | {redis_col} | {errors:.0f} |")
    mem, red = med["memory"], med["redis"]
    lines += [
        "",
        f"Redis costs {(red[1] - mem[1]) * 1e3:.0f} µs of gateway CPU per call "
        f"({red[1] / mem[1]:.2f}x) and {red[2]:.0f} µs of Redis CPU: one replica core serves "
        f"about {1000 / red[1]:,.0f} budgeted calls a second, and one Redis core about "
        f"{1e6 / red[2]:,.0f} (that is, {1e6 / red[2] / (1000 / red[1]):.0f} replica cores).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
