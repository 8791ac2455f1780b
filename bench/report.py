"""Summaries (medians, ratios, percentiles) and the Markdown report of a benchmark run."""

from __future__ import annotations

import math
import statistics
from typing import Any

DIRECT = "direct"
AIOHTTP = "passthrough-aiohttp"
LITESTAR = "passthrough-litestar"
HTTPX = "passthrough-httpx"
GATEWAY = "gateway"
GATEWAY_OTEL = "gateway+otel"  # the gateway with OpenTelemetry tracing on (--tracing)
SPANS_PER_REQUEST = 2  # the gateway's request span and one attempt span (the bench never retries)


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def percentile(values: list[float], pct: float) -> float:
    """Linear-interpolation percentile (numpy's default method)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def baseline_target(data: dict[str, Any]) -> str | None:
    """The ``gateway@<rev>`` target's name when the run had ``--baseline``."""
    baseline = data.get("baseline")
    return baseline["target"] if baseline else None


def tracing_on(data: dict[str, Any]) -> bool:
    """Whether the run had ``--tracing`` (a ``gateway+otel`` target and an OTLP sink)."""
    return data.get("tracing") is not None


def summarize(data: dict[str, Any]) -> dict[str, Any]:
    load: dict[str, dict[str, Any]] = {}
    for sample in data["samples"]:
        per_target = load.setdefault(sample["scenario"], {})
        per_target.setdefault(sample["target"], []).append(sample)
    summary_load: dict[str, dict[str, Any]] = {}
    ratios: dict[str, dict[str, float | None]] = {}
    base = baseline_target(data)
    for scenario, per_target in load.items():
        rows = {}
        for target, samples in per_target.items():
            wrk = [s["wrk"] for s in samples]
            rows[target] = {
                "rounds": len(samples),
                "rps": _median([w["rps"] for w in wrk]),
                "rps_min": min(w["rps"] for w in wrk),
                "rps_max": max(w["rps"] for w in wrk),
                "p50_ms": _median([w["latency_ms"]["p50"] for w in wrk]),
                "p99_ms": _median([w["latency_ms"]["p99"] for w in wrk]),
                "cpu_ms_per_req": _median([s["cpu_ms_per_req"] for s in samples]),
                "upstream_cpu_ms_per_req": _median([s["upstream_cpu_ms_per_req"] for s in samples]),
                "rss_mb": _median([s["rss_mb"] for s in samples]),
                "non_2xx": sum(w["non_2xx"] for w in wrk),
                "socket_errors": sum(sum(w["socket_errors"].values()) for w in wrk),
            }
        summary_load[scenario] = rows
        gw = rows.get(GATEWAY, {}).get("cpu_ms_per_req")
        ratios[scenario] = {
            "gateway_cpu_ms_per_req": gw,
            "vs_aiohttp": _ratio(gw, rows.get(AIOHTTP, {}).get("cpu_ms_per_req")),
            "vs_httpx": _ratio(gw, rows.get(HTTPX, {}).get("cpu_ms_per_req")),
            "litestar_vs_aiohttp": _ratio(
                rows.get(LITESTAR, {}).get("cpu_ms_per_req"),
                rows.get(AIOHTTP, {}).get("cpu_ms_per_req"),
            ),
            "rps_vs_aiohttp": _ratio(
                rows.get(GATEWAY, {}).get("rps"), rows.get(AIOHTTP, {}).get("rps")
            ),
        }
        if base is not None:
            base_cpu = rows.get(base, {}).get("cpu_ms_per_req")
            ratios[scenario]["baseline_cpu_ms_per_req"] = base_cpu
            ratios[scenario]["vs_baseline"] = _ratio(gw, base_cpu)
        if tracing_on(data):
            otel_cpu = rows.get(GATEWAY_OTEL, {}).get("cpu_ms_per_req")
            ratios[scenario]["otel_cpu_ms_per_req"] = otel_cpu
            ratios[scenario]["tracing_vs_gateway"] = _ratio(otel_cpu, gw)

    summary_ttfb: dict[str, dict[str, Any]] = {}
    for scenario, per_target in data["ttfb"].items():
        rows = {}
        for target, res in per_target.items():
            rows[target] = {
                "n": len(res["ttfb_ms"]),
                "ttfb_p50_ms": percentile(res["ttfb_ms"], 50),
                "ttfb_p99_ms": percentile(res["ttfb_ms"], 99),
                "total_p50_ms": percentile(res["total_ms"], 50),
                "total_p99_ms": percentile(res["total_ms"], 99),
                "errors": res["errors"],
                "first_error": res["first_error"],
            }
        direct = rows.get(DIRECT)
        for row in rows.values():
            for key in ("ttfb_p50_ms", "ttfb_p99_ms"):
                row[f"{key}_over_direct"] = (
                    row[key] - direct[key] if direct and direct["n"] and row["n"] else None
                )
        summary_ttfb[scenario] = rows
    return {"load": summary_load, "ratios": ratios, "ttfb": summary_ttfb}


def gateway_vs_baseline(data: dict[str, Any]) -> dict[str, Any]:
    """The current gateway against ``gateway@<rev>``, per scenario (for results.json)."""
    base = baseline_target(data)
    assert base is not None
    return {**data["baseline"], **_versus(data, (GATEWAY, "gateway"), (base, "baseline"))}


def tracing_vs_gateway(data: dict[str, Any]) -> dict[str, Any]:
    """``gateway+otel`` against the gateway, per scenario, plus the OTLP sink's counts."""
    return {
        "target": GATEWAY_OTEL,
        **_versus(data, (GATEWAY_OTEL, "otel"), (GATEWAY, "gateway")),
        "export": data["tracing"],
    }


def _versus(data: dict[str, Any], new: tuple[str, str], old: tuple[str, str]) -> dict[str, Any]:
    """Target ``new`` against target ``old`` (each: name, label): ratios are new ÷ old."""
    (new_name, new_label), (old_name, old_label) = new, old
    scenarios = {}
    for scenario, rows in data["summary"]["load"].items():
        a, b = rows.get(new_name, {}), rows.get(old_name, {})
        a_cpu, b_cpu = a.get("cpu_ms_per_req"), b.get("cpu_ms_per_req")
        scenarios[scenario] = {
            f"{new_label}_cpu_ms_per_req": a_cpu,
            f"{old_label}_cpu_ms_per_req": b_cpu,
            "cpu_ratio": _ratio(a_cpu, b_cpu),
            "cpu_delta_ms_per_req": a_cpu - b_cpu
            if a_cpu is not None and b_cpu is not None
            else None,
            "rps_ratio": _ratio(a.get("rps"), b.get("rps")),
            f"{new_label}_rss_mb": a.get("rss_mb"),
            f"{old_label}_rss_mb": b.get("rss_mb"),
            "errors": _has_errors(rows, new_name, old_name),
        }
    ttfb = {}
    for scenario, rows in data["summary"]["ttfb"].items():
        pair = ((new_label, rows.get(new_name, {})), (old_label, rows.get(old_name, {})))
        ttfb[scenario] = {
            f"{who}_{key}": row.get(key)
            for who, row in pair
            for key in ("ttfb_p50_ms", "ttfb_p99_ms")
        }
    targets = data["targets"]
    return {
        "scenarios": scenarios,
        "ttfb": ttfb,
        "startup_s": {
            new_label: targets.get(new_name, {}).get("startup_s"),
            old_label: targets.get(old_name, {}).get("startup_s"),
        },
    }


def sink_line(tracing: dict[str, Any]) -> str:
    """One sentence on what the OTLP sink received (the check that spans were exported)."""
    sink = tracing.get("sink")
    if sink is None:
        return f"no counts ({tracing.get('error') or 'the sink did not answer'})"
    text = (
        f"received {sink['requests']:,} span batches (POST /v1/traces), "
        f"{sink['bytes'] / 2**20:,.1f} MiB"
    )
    spans, answered = sink.get("spans"), tracing.get("gateway_requests_answered")
    if spans is not None:
        text += f", {spans:,} spans"
        if sink["requests"]:
            text += f" ({spans / sink['requests']:,.0f} per batch)"
    if answered:
        text += f"; `{GATEWAY_OTEL}` answered {answered:,} proxied requests"
        if spans is not None:
            text += (
                f", so {spans / answered:.2f} spans per request "
                f"(expected {SPANS_PER_REQUEST}: the request span and its attempt span)"
            )
    if sink.get("decode_errors"):
        text += f"; {sink['decode_errors']} batches could not be decoded"
    if tracing.get("sink_cpu_s") is not None:
        text += f". The sink used {tracing['sink_cpu_s']:.1f} s of CPU in all"
    return text + "."


def _tracing_problems(tracing: dict[str, Any]) -> list[str]:
    found = []
    sink = tracing.get("sink")
    if tracing.get("error"):
        found.append(f"**OTLP sink**: {tracing['error']}")
    elif sink is not None and not sink["requests"]:
        found.append(
            f"**OTLP sink** received no span batches: `{GATEWAY_OTEL}` did not export "
            "(its figures are not those of a tracing gateway)"
        )
    if tracing.get("dropped_span_log_lines"):
        found.append(
            f"**{GATEWAY_OTEL}** logged {tracing['dropped_span_log_lines']:,} dropped spans "
            "(its span queue was full): it exported less than it traced"
        )
    answered = tracing.get("gateway_requests_answered")
    spans = sink.get("spans") if sink else None
    if answered and spans is not None and spans < SPANS_PER_REQUEST * answered * 0.99:
        found.append(
            f"**OTLP sink** received {spans:,} spans for {answered:,} requests answered by "
            f"`{GATEWAY_OTEL}` (expected about {SPANS_PER_REQUEST * answered:,}): spans were "
            "lost"
        )
    return found


def problems(data: dict[str, Any]) -> list[str]:
    """Everything that makes a figure missing or suspect, one line (or block) each."""
    found = []
    for name, target in data["targets"].items():
        if target["error"]:
            found.append(f"**{name}** failed: {target['error']}")
        for scenario, error in target["scenario_errors"].items():
            found.append(f"**{name}** / {scenario}: not measured: {error}")
    for scenario, rows in data["summary"]["load"].items():
        for name, row in rows.items():
            if row["non_2xx"] or row["socket_errors"]:
                found.append(
                    f"**{name}** / {scenario}: {row['non_2xx']} non-2xx responses and "
                    f"{row['socket_errors']} socket errors under load (figures are suspect)"
                )
    for scenario, rows in data["summary"]["ttfb"].items():
        for name, row in rows.items():
            if row["errors"]:
                found.append(
                    f"**{name}** / {scenario} TTFB: {row['errors']} failed requests "
                    f"(first: {row['first_error']})"
                )
    if tracing_on(data):
        found += _tracing_problems(data["tracing"])
    return found


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _ordered(names: Any) -> list[str]:
    # anything else (the gateway@<rev> baseline) after the gateway (and gateway+otel)
    order = [DIRECT, AIOHTTP, LITESTAR, HTTPX, GATEWAY, GATEWAY_OTEL]
    return sorted(names, key=lambda n: order.index(n) if n in order else len(order))


def _headline(data: dict[str, Any]) -> str:
    summary = data["summary"]
    base = baseline_target(data)
    tracing = tracing_on(data)
    rows = []
    for scenario, ratio in summary["ratios"].items():
        rows_load = summary["load"][scenario]

        def cpu(name: str, rows_load: dict[str, Any] = rows_load) -> str:
            return fmt(rows_load.get(name, {}).get("cpu_ms_per_req"), 3)

        def times(value: float | None, *names: str, rows_load: dict[str, Any] = rows_load) -> str:
            if value is None:
                return "n/a"
            warn = " ⚠" if _has_errors(rows_load, *names) else ""
            return f"**{fmt(value)}×**{warn}"

        row = [
            scenario,
            cpu(GATEWAY),
            cpu(AIOHTTP),
            cpu(LITESTAR),
            cpu(HTTPX),
            times(ratio["vs_aiohttp"], GATEWAY, AIOHTTP),
            times(ratio["vs_httpx"], GATEWAY, HTTPX),
        ]
        if base is not None:
            row[5:5] = [cpu(base)]
            row.append(times(ratio.get("vs_baseline"), GATEWAY, base))
        if tracing:
            row[2:2] = [cpu(GATEWAY_OTEL)]
            row.append(times(ratio.get("tracing_vs_gateway"), GATEWAY_OTEL, GATEWAY))
        rows.append(row)
    header = [
        "scenario",
        "gateway CPU ms/req",
        "aiohttp passthrough",
        "litestar passthrough",
        "httpx passthrough",
        "gateway ÷ aiohttp",
        "gateway ÷ httpx",
    ]
    table = ""
    if base is not None:
        header[5:5] = ["baseline gateway CPU ms/req"]
        header.append("gateway ÷ baseline")
        revision = data["baseline"]
        table = (
            f"Baseline: `{base}`, the gateway at revision {revision['short']} "
            f"(`--baseline {revision['rev']}`), measured in the same run.\n\n"
        )
    if tracing:
        header[2:2] = ["gateway+otel CPU ms/req"]
        header.append("tracing cost")
        table += (
            f"`{GATEWAY_OTEL}` is the same gateway with OpenTelemetry tracing on, exporting "
            "spans over OTLP/HTTP to a local sink; tracing cost = its CPU ms/req ÷ the "
            "gateway's.\n\n"
        )
    table += _table(header, rows)
    if tracing:
        table += f"\n\nOTLP sink: {sink_line(data['tracing'])}"
    return table


def _load_table(data: dict[str, Any], scenario: str) -> str:
    rows_load = data["summary"]["load"].get(scenario, {})
    failed = {
        name: t["error"] or t["scenario_errors"].get(scenario)
        for name, t in data["targets"].items()
        if name not in rows_load
    }
    rows = []
    for name in _ordered(list(rows_load) + list(failed)):
        if name not in rows_load:
            reason = (failed[name] or "not measured").splitlines()[0][:80]
            rows.append([name, "FAILED", "", "", "", "", "", reason])
            continue
        row = rows_load[name]
        errors = row["non_2xx"] + row["socket_errors"]
        rows.append(
            [
                name,
                f"{row['rps']:.0f}",
                f"{row['rps_min']:.0f}–{row['rps_max']:.0f}",
                fmt(row["p50_ms"]),
                fmt(row["p99_ms"]),
                fmt(row["cpu_ms_per_req"], 3),
                fmt(row["rss_mb"], 1),
                f"⚠ {row['non_2xx']} non-2xx, {row['socket_errors']} socket" if errors else "0",
            ]
        )
    table = _table(
        ["target", "req/s", "req/s range", "p50 ms", "p99 ms", "CPU ms/req", "RSS MB", "errors"],
        rows,
    )
    aiohttp_cpu = rows_load.get(AIOHTTP, {}).get("cpu_ms_per_req")
    httpx_cpu = rows_load.get(HTTPX, {}).get("cpu_ms_per_req")
    if aiohttp_cpu and httpx_cpu and httpx_cpu > 3 * aiohttp_cpu:
        table += (
            f"\n\nThe httpx passthrough costs {httpx_cpu / aiohttp_cpu:.0f}× the aiohttp one: "
            "httpcore's connection pool rescans every connection for every queued request, "
            "so its cost grows with concurrency. The aiohttp passthrough is the meaningful floor."
        )
    ratio = data["summary"]["ratios"].get(scenario, {})
    litestar_cpu = rows_load.get(LITESTAR, {}).get("cpu_ms_per_req")
    if aiohttp_cpu and litestar_cpu:
        warn = " ⚠ (rows with errors)" if _has_errors(rows_load, LITESTAR, AIOHTTP) else ""
        table += (
            f"\n\nThe same aiohttp forwarding as a Litestar route handler costs "
            f"{fmt(ratio.get('litestar_vs_aiohttp'))}× the raw-ASGI passthrough "
            f"({litestar_cpu - aiohttp_cpu:+.3f} ms/req of framework work).{warn}"
        )
    parts = [
        f"{fmt(ratio[key])}× the {label} passthrough's"
        for key, label in (("vs_aiohttp", "aiohttp"), ("vs_httpx", "httpx"))
        if ratio.get(key) is not None
    ]
    base = baseline_target(data)
    gw_cpu = rows_load.get(GATEWAY, {}).get("cpu_ms_per_req")
    base_cpu = rows_load.get(base, {}).get("cpu_ms_per_req") if base else None
    if base and gw_cpu is not None and base_cpu:
        warn = " ⚠ (rows with errors)" if _has_errors(rows_load, GATEWAY, base) else ""
        table += (
            f"\n\nAgainst the baseline `{base}`: CPU per request {fmt(gw_cpu / base_cpu)}× "
            f"({gw_cpu - base_cpu:+.3f} ms/req), throughput "
            f"{fmt(_ratio(rows_load[GATEWAY]['rps'], rows_load[base]['rps']))}×, RSS "
            f"{fmt(rows_load[GATEWAY]['rss_mb'], 1)} vs {fmt(rows_load[base]['rss_mb'], 1)} MB."
            f"{warn}"
        )
    otel_cpu = rows_load.get(GATEWAY_OTEL, {}).get("cpu_ms_per_req")
    if gw_cpu and otel_cpu is not None:
        warn = " ⚠ (rows with errors)" if _has_errors(rows_load, GATEWAY, GATEWAY_OTEL) else ""
        table += (
            f"\n\nWith tracing on (`{GATEWAY_OTEL}`): CPU per request {fmt(otel_cpu / gw_cpu)}× "
            f"the gateway's ({otel_cpu - gw_cpu:+.3f} ms/req), throughput "
            f"{fmt(_ratio(rows_load[GATEWAY_OTEL]['rps'], rows_load[GATEWAY]['rps']))}×, RSS "
            f"{fmt(rows_load[GATEWAY_OTEL]['rss_mb'], 1)} vs "
            f"{fmt(rows_load[GATEWAY]['rss_mb'], 1)} MB.{warn}"
        )
    if parts:
        table += f"\n\nGateway CPU per request: {' and '.join(parts)}"
        if ratio.get("rps_vs_aiohttp") is not None:
            table += f"; throughput {fmt(ratio['rps_vs_aiohttp'])}× the aiohttp passthrough's"
        table += "."
        if _has_errors(rows_load, GATEWAY, AIOHTTP, HTTPX):
            table += " ⚠ Some of these rows had errors: the ratios are suspect."
    return table


def _has_errors(rows: dict[str, Any], *names: str) -> bool:
    return any(
        rows.get(n, {}).get("non_2xx") or rows.get(n, {}).get("socket_errors") for n in names
    )


def _ttfb_table(data: dict[str, Any], scenario: str) -> str:
    rows_ttfb = data["summary"]["ttfb"][scenario]
    rows = []
    for name in _ordered(rows_ttfb):
        row = rows_ttfb[name]
        rows.append(
            [
                name,
                str(row["n"]),
                fmt(row["ttfb_p50_ms"], 3),
                fmt(row["ttfb_p99_ms"], 3),
                fmt(row["ttfb_p50_ms_over_direct"], 3),
                fmt(row["ttfb_p99_ms_over_direct"], 3),
                fmt(row["total_p50_ms"], 3),
                f"⚠ {row['errors']}" if row["errors"] else "0",
            ]
        )
    return _table(
        [
            "target",
            "requests",
            "TTFB p50 ms",
            "TTFB p99 ms",
            "p50 over direct ms",
            "p99 over direct ms",
            "total p50 ms",
            "errors",
        ],
        rows,
    )


def _startup_table(data: dict[str, Any]) -> str:
    rows = [
        [name, fmt(t["startup_s"]) if t["startup_s"] is not None else "FAILED"]
        for name, t in ((n, data["targets"][n]) for n in _ordered(data["targets"]))
    ]
    return _table(["target", "spawn → first HTTP 200 (s)"], rows)


def render_tables(data: dict[str, Any], *, markdown: bool = False) -> str:
    """The result tables (the part also printed to stdout)."""
    titles = data["scenarios"]
    parts = ["## CPU cost of the gateway (headline)", _headline(data)]
    for scenario in data["config"]["scenarios"]:
        parts += [f"## {scenario}: {titles[scenario]['title']}", _load_table(data, scenario)]
    ttfb_requests = data["config"]["ttfb_requests"]
    for scenario in data["summary"]["ttfb"]:
        parts += [
            f"## Streaming time to first byte: {scenario} "
            f"({ttfb_requests} sequential requests per target)",
            _ttfb_table(data, scenario),
        ]
    parts += ["## Start-up time", _startup_table(data)]
    found = problems(data)
    if found:
        parts.append("## Problems")
        for problem in found:
            first, _, rest = problem.partition("\n")
            parts.append(f"- {first}" + (f"\n\n  ```\n{_indent(rest)}\n  ```" if rest else ""))
        if not markdown:
            parts.append("(full logs under bench/out/<run>/logs/)")
    return "\n\n".join(parts) + "\n"


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def render(data: dict[str, Any]) -> str:
    env = data["environment"]
    cfg = data["config"]
    pkgs = ", ".join(f"{name} {version}" for name, version in env["packages"].items())
    base = baseline_target(data)
    baseline_option = f" --baseline {data['baseline']['rev']}" if base else ""
    baseline_revision = f"; baseline: {data['baseline']['short']}" if base else ""
    tracing = tracing_on(data)
    tracing_option = " --tracing" if tracing else ""
    tracing_method = (
        f" `{GATEWAY_OTEL}` is the same gateway started with OpenTelemetry tracing on "
        f"(`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT={data['tracing']['endpoint']}`, "
        f"`OTEL_SERVICE_NAME={data['tracing']['service_name']}`, its own SQLite file): "
        "its exporter sends OTLP/HTTP protobuf batches to a small aiohttp sink "
        "(`bench/otlp_sink.py`, its own process, not measured) that answers 200 with an "
        "empty body and counts the batches, bytes and spans it receives."
        if tracing
        else ""
    )
    baseline_method = (
        f" `{base}` is the gateway as it was at revision {data['baseline']['short']}: a "
        "temporary detached git worktree of that commit, run as `python -m gateway.cli serve` "
        "with this venv's python, the worktree on `PYTHONPATH`, its own "
        "`config/demo.yaml` (`config/gateway.yaml` before there was one) and the same "
        "environment (a separate SQLite file), called "
        "with a token it minted itself."
        if base
        else ""
    )
    interleaving = (
        "direct, aiohttp, litestar, httpx, gateway"
        + (f", {GATEWAY_OTEL}" if tracing else "")
        + (f", {base}" if base else "")
    )
    header = f"""\
# Gateway benchmark results

Generated by `bench/run` on {env["date"]} (gateway revision: \
{env["gateway_revision"]}{baseline_revision}).
Command options: `--rounds {cfg["rounds"]} --duration {cfg["duration_s"]} \
--warmup {cfg["warmup_s"]} --connections {cfg["connections"]} \
--only {",".join(cfg["targets"])} --scenarios {",".join(cfg["scenarios"])} \
--ttfb-requests {cfg["ttfb_requests"]}{tracing_option}{baseline_option}`. \
See `bench/README.md` for how to read this.

## Machine and software

| | |
|---|---|
| CPU | {env["cpu_model"]}, {env["cores"]} cores |
| Memory | {env["memory_gib"]} GiB |
| Kernel | {env["kernel"]} |
| Python | {env["python"]} |
| Packages | {pkgs} |
| nginx | {env["nginx"]} |
| wrk | {env["wrk"]} |

## Method

- **Upstream**: nginx, 1 worker, keep-alive, no access log, returning fixed OpenAI-shaped
  payloads (Responses JSON ~1.5 KB; SSE ~10 KB with 20 `output_text.delta` events). The
  SSE variant is chosen by the forwarded `Accept: text/event-stream` header. It checks that
  the upstream API key (not the client's token) arrives.
- **Targets**: `direct` is nginx itself; `passthrough-aiohttp` / `passthrough-httpx` are
  raw-ASGI proxies (no framework) forwarding to nginx through one shared client session;
  `passthrough-litestar` is the aiohttp one written as Litestar route handlers
  (`request: Request`, `await request.body()`, a `Stream` response; OpenAPI and logging
  config off), so its difference from `passthrough-aiohttp` is Litestar's per-request cost;
  `gateway` is `gateway serve --config config/demo.yaml` (no `OTEL_*` variables, so
  tracing is off).{tracing_method}{baseline_method} The Python
  targets run under uvicorn, 1 worker, uvloop, httptools, no access log.
- **Load**: `wrk -t1 -c{cfg["connections"]}` per target: {cfg["warmup_s"]} s warm-up, then
  {cfg["duration_s"]} s measured. Targets are interleaved ({interleaving}, then
  again) for {cfg["rounds"]} rounds; tables show the median over rounds (and the req/s range).
  p50/p99 are wrk's latencies under that closed-loop load (so they include queueing).
- **CPU ms/req**: utime+stime of the target's process tree (from `/proc/<pid>/stat`) during
  the measured run ÷ requests completed (for `direct`, nginx's own cost). On this
  {env["cores"]}-core machine wrk, the proxy and nginx share the cores, so req/s is bounded
  by the machine; CPU ms/req is the comparable cost figure. **RSS** is VmRSS of the process
  tree right after the measured run.
- **Errors**: wrk's non-2xx/3xx responses plus socket errors, summed over rounds; any
  non-zero count is flagged (⚠) and listed under Problems. Every target must also pass a
  preflight request (status, content type, payload) per scenario before it is measured.
- **TTFB**: a raw asyncio HTTP/1.1 client sends sequential streaming requests over a
  keep-alive connection (batches of 50 interleaved across targets, one warm-up request per
  batch) and times request-sent → first body byte, and → end of the stream.
- **Start-up**: process spawn → first HTTP 200 on `/healthz` (the passthroughs forward it to
  nginx).

"""
    return header + render_tables(data, markdown=True)
