"""What admission and metering add to one request, in CPU µs, measured in-process.

`bench/run --baseline feccd52` compares the whole gateway with the core gateway of
issue 2, but the gateway now also routes (issue 4) and exports metrics (issue 5), so
that ratio is not the cost of cost control alone. This runs exactly the code that
admission and metering add to a proxied call, on the gateway's own objects and its
real config, and times it per request with the process CPU clock:

- admission: the model's price, the cost bound (`admission_bound`), the TPM estimate
  and `MemoryQuota.admit` (rate limits, concurrency, budget reservations);
- metering: `measure` (usage from the parsed answer), `Recorder.finish` (price it,
  settle the reservation, queue the ledger row, token/spend/budget metrics) and the
  row's share of the batched SQLite insert, written as the gateway writes it.

Two tenants from `config/demo.yaml`: `bench` (unlisted, the defaults policy, as in
`bench/run`) and `search` (RPM, TPM and concurrency limits, daily, monthly and
per-model budgets: every counter admission has; its rates are raised so that the loop
is not refused).

Usage: ``bench/metering.py [--requests N] [--core-ms MS] [--results bench/RESULTS.md]``.
``--core-ms`` is the core gateway's CPU ms/req to express the cost as a share of
(default: the newest `bench/out` run with ``--baseline feccd52``, the core gateway);
``--results`` replaces this script's section at the end of that file.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import glob
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from upstream import responses_json  # noqa: E402

from gateway.auth import Principal  # noqa: E402
from gateway.auth.callers import Caller  # noqa: E402
from gateway.config.runtime import load_runtime  # noqa: E402
from gateway.db import make_engine  # noqa: E402
from gateway.metering.outcome import Outcome, measure  # noqa: E402
from gateway.pipeline.context import RequestContext  # noqa: E402
from gateway.pipeline.prepare import Prepared, for_model  # noqa: E402
from gateway.policy import resolve_tenant  # noqa: E402
from gateway.routing import NO_FEATURES, plan  # noqa: E402
from gateway.services import Services  # noqa: E402
from gateway.shapes.responses import RESPONSES  # noqa: E402

SECTION = "## Admission and metering, in-process"
CORE_REV = "feccd52"  # the core gateway: issue 2's last revision, before cost control

REQUEST = {
    "model": "gpt-5-nano",
    "input": "Say hello in one short sentence.",
    "max_output_tokens": 64,
}  # what bench/run sends


async def _run(services: Services, tenant: str, requests: int) -> float:
    """CPU seconds per request for admission + metering of `requests` calls."""
    config = services.config
    principal = Principal(tenant, "bench", is_admin=False, expires_at=time.time() + 3600)
    policy = resolve_tenant(config, principal)
    if policy.rpm and policy.tpm:  # every counter stays; only the rates are out of the way
        policy = dataclasses.replace(policy, rpm=policy.rpm * 10**6, tpm=policy.tpm * 10**6)
    caller = Caller(principal, policy)
    model = config.models["gpt-5-nano"]
    answer = responses_json().encode()
    ledger = services.ledger
    cpu = 0.0
    for i in range(requests):
        body = dict(REQUEST)
        request = RESPONSES.parse(body)
        route_plan = plan(config, request.model, NO_FEATURES, "bench")
        prepared = Prepared(config, RESPONSES, caller, request, body, b"", route_plan)
        outcome = Outcome(status=200, body=orjson.loads(answer))  # the relay parses it anyway
        ctx = RequestContext(
            request_id=f"req_bench{i:012x}", method="POST", path="/v1/responses",
            started=time.perf_counter(), wall_started=time.time(),
        )  # fmt: skip
        ctx.endpoint, ctx.model = "responses", "gpt-5-nano"
        start = time.process_time()
        attempt = for_model(prepared, model, first=True)
        call = await services.pipeline.admit(ctx, prepared, attempt)
        call.settle(measure(RESPONSES, outcome, len(attempt.raw)), 200)
        if ledger.pending >= 400:  # about one 0.2 s batch at the gateway's throughput
            await ledger.flush()
        cpu += time.process_time() - start
    start = time.process_time()
    await ledger.flush()
    return (cpu + time.process_time() - start) / requests


def _core_ms_from_runs() -> tuple[float, str] | None:
    for path in sorted(glob.glob(str(ROOT / "bench/out/*/results.json")), reverse=True):
        data: dict[str, Any] = json.loads(Path(path).read_text())
        baseline = data.get("baseline")
        load = data.get("summary", {}).get("load", {}).get("responses", {})
        if baseline and baseline.get("short") == CORE_REV and baseline["target"] in load:
            where = Path(path).relative_to(ROOT)
            return load[baseline["target"]]["cpu_ms_per_req"], f"`{baseline['target']}` in {where}"
    return None


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--core-ms", type=float, default=None)
    parser.add_argument("--results", default=None, help="also write the section into this file")
    args = parser.parse_args()
    env = {"GATEWAY_JWT_SECRET": "bench-secret-long-enough-for-hs256-0123456789"}
    with tempfile.TemporaryDirectory() as tmp:
        config = load_runtime(ROOT / "config/demo.yaml", env)
        services = Services(config, make_engine(f"sqlite:///{tmp}/ledger.db"))
        await services.ledger.start()
        results = {}
        for tenant in ("bench", "search"):
            await _run(services, tenant, 2000)  # warm-up: caches, metric children, SQLite pages
            results[tenant] = min([await _run(services, tenant, args.requests) for _ in range(3)])
        await services.ledger.aclose()
    core = (args.core_ms, "--core-ms") if args.core_ms else _core_ms_from_runs()
    report = _report(results, core, args.requests)
    print(report)
    if args.results:
        _write_section(Path(args.results), report)
        print(f"bench: wrote that section of {args.results}")


def _report(results: dict[str, float], core: tuple[float, str] | None, requests: int) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        SECTION,
        "",
        f"`bench/metering.py` on {stamp}: the CPU that admission and metering add to one",
        f"non-streaming call, in-process (best of 3 runs of {requests} calls; see the script's",
        "docstring for exactly what is timed).",
        "",
        "| tenant | admission + metering, CPU µs/req | share of the core gateway's CPU/req |",
        "|---|---|---|",
    ]
    for tenant, seconds in results.items():
        share = f"**{seconds * 1e3 / core[0] * 100:.1f}%**" if core else "(no core figure)"
        lines.append(f"| `{tenant}` | {seconds * 1e6:.1f} | {share} |")
    if core:
        lines += ["", f"Core gateway: {core[0]:.3f} CPU ms/req, from {core[1]}."]
    return "\n".join(lines) + "\n"


def _write_section(path: Path, section: str) -> None:
    """Replace this script's section of RESULTS.md (bench/run rewrites the rest)."""
    text = path.read_text() if path.exists() else ""
    head, _, _ = text.partition(SECTION)
    path.write_text(head.rstrip("\n") + "\n\n" + section)


if __name__ == "__main__":
    asyncio.run(main())
