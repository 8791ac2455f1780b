"""What shadow traffic costs the client: one route with its shadow off, on every call, on a tenth.

Issue 21 promises that a shadowed route's client is "never delayed": the shadow
call starts once the client's answer is complete, as a task the client does
not wait for. This measures that, and what the shadows cost the replica, on one
gateway process (1 uvicorn worker, uvloop, SQLite ledger) in front of nginx's
canned answers (the shadow's non-streaming copy carries no ``Accept:
text/event-stream``, so nginx gives it the JSON answer). Three routes, the same
but for their shadow, called by one tenant:

- ``off``: ``bench-off``, ladder ``[gpt-5-nano]``, no shadow;
- ``all``: ``bench-all``, the same, ``shadow: {ladder: [gpt-5-mini], sample: 1.0}``;
- ``tenth``: ``bench-tenth``, the same with ``sample: 0.1``.

The shadows are charged to the tenant ``shadows`` (a daily budget of a million
dollars: strict mode reserves every call's bound, and never runs out here), with
``shadow.max_in_flight`` from ``--max-in-flight``.

Two measures, each in interleaved rounds (the rows' order rotates each round):

1. **Sequential** (the client's latency): one client, one keep-alive connection,
   one request at a time (non-streaming and streaming Responses): wall time of
   the client's whole answer, and the first body byte of a stream; percentiles
   over all rounds' requests, and the spread of the rounds' medians (the noise).
   *Back to back* (``--sequential`` requests per row and scenario in all): the
   next request leaves as soon as the answer is in, so with ``sample: 1.0`` the
   previous call's shadow runs on the same event loop while it is served.
   *Paced* (``--paced`` requests, ``--pause-ms`` apart): a client with think time
   (or an upstream slower than nginx), whose calls find the shadow done.
2. **Closed loop** (the replica's cost): wrk at ``--connections`` for
   ``--duration`` s, as ``bench/run``: req/s, wrk's p50/p99, and CPU ms per
   client request of the gateway's process and of nginx (every shadow is a
   second upstream call and its own ledger row and pair row). After each run
   the bench waits for the shadows still running before reading the CPU, so
   their whole cost is charged to the run that started them.

The shadows actually made (and those skipped because ``max_in_flight`` were
busy) come from the gateway's ``gateway_shadow_calls_total``. How busy the
machine was comes from ``/proc/stat``: all CPU used during the run, less the
bench's own processes (gateway, nginx, wrk, this script).

Usage: ``bench/shadow.py [--rounds 3] [--sequential 450] [--paced 300] [--pause-ms 20]
[--duration 6] [--connections 64] [--max-in-flight 64] [--results bench/RESULTS.md]``
(about 3 minutes). Develop with ``--rounds 1 --sequential 60 --paced 30 --duration 2``.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run as bench  # noqa: E402
from load import TtfbResult, run_wrk, ttfb_batch  # noqa: E402
from procs import Supervisor, cpu_seconds, free_port, write_section  # noqa: E402

SECTION = "## Shadow traffic: the client's latency with a route's shadow off and on (issue 21)"
TENANT = "bench"
PAYER = "shadows"
PRIMARY, CANDIDATE = "gpt-5-nano", "gpt-5-mini"
BACK_TO_BACK, PACED = "back-to-back", "paced"
ROWS = {"off": None, "all": 1.0, "tenth": 0.1}  # row -> the route's shadow sample
TITLES = {"off": "shadow off", "all": "shadow on, sample 1.0", "tenth": "shadow on, sample 0.1"}
SCENARIOS = ("responses", "responses-stream")
RESULTS = ("compared", "failed", "skipped_busy", "skipped_budget", "skipped_rate_limited")


def route(row: str) -> str:
    return f"bench-{row}"


# --- the gateway ----------------------------------------------------------------------------


def _config(folder: Path, max_in_flight: int) -> Path:
    folder.mkdir()
    data: dict[str, Any] = yaml.safe_load((bench.REPO_ROOT / bench.GATEWAY_CONFIG).read_text())
    for row, sample in ROWS.items():
        spec: dict[str, Any] = {"ladder": [PRIMARY]}
        if sample is not None:
            spec["shadow"] = {"ladder": [CANDIDATE], "sample": sample}
        data["routes"][route(row)] = spec
    data["tenants"][TENANT] = {"models": [route(r) for r in ROWS]}
    data["tenants"][PAYER] = {"models": [], "budgets": {"daily_usd": 1_000_000}}
    data["shadow"] = {"charge_to": PAYER, "max_in_flight": max_in_flight}
    path = folder / "gateway.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    shutil.copy(bench.REPO_ROOT / "config/pricing.yaml", folder / "pricing.yaml")
    return path


@dataclass
class Gateway:
    target: Any  # bench.Target
    nginx_pid: int

    @property
    def pid(self) -> int:
        assert self.target.service is not None
        return int(self.target.service.pid)

    def scrape(self) -> dict[tuple[str, str, str], float]:
        """``gateway_shadow_calls_total`` by (route, result), and the in-flight gauge."""
        conn = http.client.HTTPConnection("127.0.0.1", self.target.metrics_port, timeout=10)
        try:
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
        finally:
            conn.close()
        found: dict[tuple[str, str, str], float] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "gateway_shadow_calls_total":
                    found[(s.name, s.labels["route"], s.labels["result"])] = s.value
                elif s.name == "gateway_shadow_in_flight":
                    found[(s.name, "", "")] = s.value
        return found

    def drained(self, timeout_s: float = 30.0) -> dict[tuple[str, str, str], float]:
        """The counters once no shadow is running any more."""
        deadline = time.monotonic() + timeout_s
        while True:
            now = self.scrape()
            if now.get(("gateway_shadow_in_flight", "", ""), 0) == 0:
                return now
            if time.monotonic() > deadline:
                raise SystemExit("bench: shadows still running 30 s after the load stopped")
            time.sleep(0.05)


def _start(sup: Supervisor, workdir: Path, nginx: str, max_in_flight: int) -> Gateway:
    upstream = bench.start_nginx(sup, nginx, workdir)
    config = _config(workdir / "config", max_in_flight)
    env = bench._gateway_env(upstream.port, workdir / "shadow.db")
    target = bench.Target("gateway-shadow", free_port())
    bench._start_gateway(sup, target, [str(bench.BIN_DIR / "gateway")], config, env, workdir,
                         tenant=TENANT)  # fmt: skip
    if target.error:
        raise SystemExit(f"bench: {target.name}: {target.error}")
    assert upstream.service is not None
    return Gateway(target, upstream.service.pid)


def _scenario(row: str, name: str) -> Any:
    base = bench.SCENARIOS[name]
    return bench.Scenario(base.name, base.title, base.path, {**base.body, "model": route(row)},
                          base.stream, base.marker)  # fmt: skip


def _shadows(before: dict[Any, float], after: dict[Any, float], row: str) -> dict[str, float]:
    key = ("gateway_shadow_calls_total", route(row))
    return {r: after.get((*key, r), 0.0) - before.get((*key, r), 0.0) for r in RESULTS}


def preflight(gw: Gateway) -> None:
    """Each row answers, and the shadowed route's copy is answered and compared by nginx."""
    before = gw.drained()
    for row in ROWS:
        for name in SCENARIOS:
            if problem := bench.preflight(gw.target, _scenario(row, name)):
                raise SystemExit(f"bench: {row} / {name}: {problem}")
    done = _shadows(before, gw.drained(), "all")
    if done["compared"] != len(SCENARIOS) or done["failed"]:
        raise SystemExit(f"bench: the shadows did not compare cleanly: {done}")


# --- measuring ------------------------------------------------------------------------------


@dataclass
class Sequential:
    """One row and scenario's sequential requests, over every round."""

    total_ms: list[float] = field(default_factory=list)
    ttfb_ms: list[float] = field(default_factory=list)
    round_p50: list[float] = field(default_factory=list)
    errors: int = 0
    shadows: dict[str, float] = field(default_factory=dict)


@dataclass
class Loaded:
    """One wrk run of one row and scenario."""

    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float  # the gateway's, per client request
    nginx_ms: float
    errors: int
    shadows: dict[str, float]


def _add(into: dict[str, float], more: dict[str, float]) -> None:
    for k, v in more.items():
        into[k] = into.get(k, 0.0) + v


def sequential_round(
    gw: Gateway, row: str, name: str, n: int, pause_s: float, into: Sequential
) -> None:
    scenario = _scenario(row, name)
    result = TtfbResult()
    before = gw.drained()
    asyncio.run(
        ttfb_batch(gw.target.port, scenario.path, body=scenario.body_text.encode(),
                   authorization=gw.target.authorization, marker=scenario.marker.encode(),
                   requests=n, result=result, accept=scenario.accept, pause_s=pause_s)
    )  # fmt: skip
    _add(into.shadows, _shadows(before, gw.drained(), row))
    into.total_ms += result.total_ms
    if scenario.stream:
        into.ttfb_ms += result.ttfb_ms
    into.round_p50.append(statistics.median(result.total_ms))
    into.errors += result.errors
    if result.first_error:
        print(f"  {row} {name}: {result.errors} errors, first: {result.first_error}", flush=True)


def loaded_run(gw: Gateway, row: str, name: str, args: Any) -> Loaded:
    scenario = _scenario(row, name)
    wrk: dict[str, Any] = {"body": scenario.body_text, "accept": scenario.accept,
                           "authorization": gw.target.authorization,
                           "connections": args.connections}  # fmt: skip
    url = gw.target.url(scenario)
    run_wrk(url, duration_s=1, **wrk)  # warm-up
    before = gw.drained()
    cpu = (cpu_seconds(gw.pid), cpu_seconds(gw.nginx_pid))
    result = run_wrk(url, duration_s=args.duration, **wrk)
    after = gw.drained()  # the shadows the run started are its cost too
    used = (cpu_seconds(gw.pid) - cpu[0], cpu_seconds(gw.nginx_pid) - cpu[1])
    n = max(result.requests, 1)
    return Loaded(result.requests, result.rps, result.latency_ms["p50"], result.latency_ms["p99"],
                  used[0] * 1e3 / n, used[1] * 1e3 / n, result.errors,
                  _shadows(before, after, row))  # fmt: skip


Seq = dict[tuple[str, str, str], Sequential]  # (mode, row, scenario)
Load = dict[tuple[str, str], list[Loaded]]


def measure(gw: Gateway, args: Any) -> tuple[Seq, Load]:
    modes = {BACK_TO_BACK: (args.sequential, 0.0), PACED: (args.paced, args.pause_ms / 1e3)}
    modes = {m: v for m, v in modes.items() if v[0] > 0}
    seq: Seq = {(m, r, s): Sequential() for m in modes for s in SCENARIOS for r in ROWS}
    load: Load = {(r, s): [] for s in SCENARIOS for r in ROWS}
    rows = list(ROWS)
    for rnd in range(args.rounds):
        order = rows[rnd % len(rows) :] + rows[: rnd % len(rows)]
        for mode, (requests, pause_s) in modes.items():
            for name in SCENARIOS:
                for row in order:
                    into = seq[(mode, row, name)]
                    per_round = max(1, requests // args.rounds)
                    sequential_round(gw, row, name, per_round, pause_s, into)
                    print(f"round {rnd + 1} {mode:12} {name:16} {row:5} p50 "
                          f"{into.round_p50[-1]:.2f} ms", flush=True)  # fmt: skip
        for name in SCENARIOS:
            for row in order:
                s = loaded_run(gw, row, name, args)
                load[(row, name)].append(s)
                print(
                    f"round {rnd + 1} wrk {name:16} {row:5} {s.rps:6.0f} req/s p50 "
                    f"{s.p50_ms:5.1f} p99 {s.p99_ms:6.1f} ms  CPU {s.cpu_ms:.3f} ms/req  nginx "
                    f"{s.nginx_ms:.3f}  shadows {s.shadows['compared']:.0f} compared, "
                    f"{s.shadows['skipped_busy']:.0f} skipped busy, errors {s.errors}",
                    flush=True,
                )
    return seq, load


# --- how busy the machine was ---------------------------------------------------------------


def _proc_stat() -> tuple[int, int]:
    """(busy, total) jiffies over every core."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


@dataclass
class Busy:
    start_stat: tuple[int, int]
    start_wall: float
    start_ours: float
    load_start: str

    @classmethod
    def now(cls) -> Busy:
        return cls(_proc_stat(), time.monotonic(), _own_cpu(), _loadavg())

    def report(self, gw: Gateway) -> str:
        busy, total = (b - a for a, b in zip(self.start_stat, _proc_stat(), strict=True))
        wall = time.monotonic() - self.start_wall
        cores = os.cpu_count() or 1
        all_cores = busy / max(total, 1) * cores
        ours = _own_cpu() - self.start_ours + cpu_seconds(gw.pid) + cpu_seconds(gw.nginx_pid)
        ours /= wall
        return (
            f"Over the run's {wall:.0f} s the machine's {cores} cores were {all_cores:.2f} "
            f"cores busy on average; the bench's own processes {ours:.2f}, everything else "
            f"(other sessions' work) {max(all_cores - ours, 0):.2f}. Load average "
            f"{self.load_start} at the start, {_loadavg()} at the end."
        )


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system  # wrk is a child


def _loadavg() -> str:
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- the report -----------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _per_call(shadows: dict[str, float], calls: float) -> str:
    made = shadows.get("compared", 0) + shadows.get("failed", 0)
    failed = shadows.get("failed", 0)
    return f"{made:.0f} ({made / max(calls, 1):.2f})" + (f", {failed:.0f} failed" if failed else "")


def _sequential_table(seq: Seq) -> list[str]:
    lines = [
        "| client | scenario | row | requests | p50 ms | p50 − off | p90 ms | p99 ms "
        "| rounds' p50 ms | TTFB p50 / p90 / p99 ms | shadows made (per call) | skipped busy "
        "| errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (mode, row, name), s in seq.items():
        delta = _pct(s.total_ms, 0.5) - _pct(seq[(mode, "off", name)].total_ms, 0.5)
        ttfb = (f"{_pct(s.ttfb_ms, 0.5):.2f} / {_pct(s.ttfb_ms, 0.9):.2f} / "
                f"{_pct(s.ttfb_ms, 0.99):.2f}" if s.ttfb_ms else "-")  # fmt: skip
        spread = f"{min(s.round_p50):.2f}–{max(s.round_p50):.2f}"
        lines.append(
            f"| {mode} | {name} | {TITLES[row]} | {len(s.total_ms)} "
            f"| {_pct(s.total_ms, 0.5):.2f} | {delta:+.2f} | {_pct(s.total_ms, 0.9):.2f} "
            f"| {_pct(s.total_ms, 0.99):.2f} | {spread} | {ttfb} "
            f"| {_per_call(s.shadows, len(s.total_ms))} | {s.shadows.get('skipped_busy', 0):.0f} "
            f"| {s.errors} |"
        )
    return lines


def _loaded_table(load: Load) -> list[str]:
    lines = [
        "| scenario | row | req/s | p50 ms | p99 ms | gateway CPU ms/req | ÷ off | nginx CPU "
        "ms/req | shadows made (per call) | CPU ms per shadow made | skipped busy | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (row, name), runs in load.items():
        med = {f: statistics.median(getattr(r, f) for r in runs)
               for f in ("rps", "p50_ms", "p99_ms", "cpu_ms", "nginx_ms")}  # fmt: skip
        off = statistics.median(r.cpu_ms for r in load[("off", name)])
        shadows: dict[str, float] = {}
        for r in runs:
            _add(shadows, r.shadows)
        calls = sum(r.requests for r in runs)
        made = (shadows.get("compared", 0) + shadows.get("failed", 0)) / max(calls, 1)
        each = f"{(med['cpu_ms'] - off) / made:.3f}" if made else "-"
        lines.append(
            f"| {name} | {TITLES[row]} | {med['rps']:,.0f} | {med['p50_ms']:.1f} "
            f"| {med['p99_ms']:.1f} | {med['cpu_ms']:.3f} | {med['cpu_ms'] / off:.2f}x "
            f"| {med['nginx_ms']:.3f} | {_per_call(shadows, calls)} | {each} "
            f"| {shadows.get('skipped_busy', 0):.0f} | {sum(r.errors for r in runs)} |"
        )
    return lines


def report(seq: Seq, load: Load, args: Any, busy: str) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    git = ["git", "-C", str(bench.REPO_ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "--", "gateway"], capture_output=True)
    revision = commit.stdout.strip() + (" + uncommitted changes" if dirty.stdout else "")
    return "\n".join([
        SECTION,
        "",
        f"`bench/shadow.py` on {stamp} (at {revision}): one gateway process (1 uvicorn worker, "
        f"SQLite ledger), nginx's canned answers on both sides; routes `bench-off`, "
        f"`bench-all` and `bench-tenth` (ladder `[{PRIMARY}]`; shadow `[{CANDIDATE}]` at "
        f"sample 1.0 and 0.1), shadows charged to a budgeted tenant, `shadow.max_in_flight: "
        f"{args.max_in_flight}`; {args.rounds} interleaved rounds, the rows' order rotating. "
        f"{busy}",
        "",
        "### The client's latency: sequential requests (one client, one at a time)",
        "",
        "Wall time of the client's whole answer; percentiles over every round's requests; "
        "*rounds' p50* is the range of the rounds' medians (the noise between rounds). "
        "*back-to-back*: the next request leaves as soon as the answer is in, so a shadow's "
        f"work lands on it; *paced*: {args.pause_ms:g} ms between requests (a client's think "
        "time, or an upstream slower than nginx), the shadow is done before the next call. "
        "*Shadows made*: compared or failed, from `gateway_shadow_calls_total`.",
        "",
        *_sequential_table(seq),
        "",
        f"### The replica's cost: closed loop, wrk at {args.connections} connections",
        "",
        f"Medians of {args.rounds} runs of {args.duration} s; CPU per client request, the "
        "shadows' included (each run waits for the shadows it started before the CPU is read).",
        "",
        *_loaded_table(load),
    ]) + "\n"  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--sequential",
        type=int,
        default=450,
        help="sequential requests per row and scenario, over all rounds",
    )
    parser.add_argument(
        "--paced",
        type=int,
        default=300,
        help="paced sequential requests per row and scenario, over all rounds",
    )
    parser.add_argument(
        "--pause-ms", type=float, default=20.0, help="the paced client's pause between requests"
    )
    parser.add_argument("--duration", type=int, default=6, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument("--results", default=None, help="also write the section into this file")
    args = parser.parse_args()  # fmt: skip
    nginx = bench._find_binary("nginx")
    bench._find_binary("wrk")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        sup = Supervisor(workdir / "logs")
        try:
            busy = Busy.now()
            gw = _start(sup, workdir, nginx, args.max_in_flight)
            preflight(gw)
            seq, load = measure(gw, args)
            machine = busy.report(gw)
        finally:
            sup.close()
    section = report(seq, load, args, machine)
    print(section)
    if args.results:
        write_section(args.results, SECTION, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
