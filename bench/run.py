"""Gateway overhead benchmark: gateway vs direct nginx vs bare Python passthroughs.

Run through ``bench/run`` (see bench/README.md). Starts a static nginx upstream, three
minimal passthroughs (raw-ASGI aiohttp, the same as a Litestar handler, raw-ASGI httpx) and
the gateway (with ``--tracing``, also the same gateway with OpenTelemetry tracing exporting
to a local OTLP sink; with ``--baseline REV``, also the gateway as it was at REV, from a
temporary git worktree), drives each with wrk in interleaved rounds, measures the proxies'
CPU time per request and RSS, then streaming time-to-first-byte, and writes bench/RESULTS.md
plus raw JSON under bench/out/.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

import report
from load import TtfbResult, WrkResult, run_wrk, ttfb_batch
from procs import Service, Supervisor, cpu_seconds, free_port, rss_bytes, wait_http_ok
from upstream import CHAT_ID, RESPONSE_ID, UPSTREAM_API_KEY, write_nginx_config

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
BIN_DIR = Path(sys.executable).parent  # the project venv's bin/ (bench/run uses its python)

DIRECT = "direct"
AIOHTTP = "passthrough-aiohttp"
LITESTAR = "passthrough-litestar"
HTTPX = "passthrough-httpx"
GATEWAY = "gateway"
GATEWAY_OTEL = "gateway+otel"  # only with --tracing
ALL_TARGETS = [DIRECT, AIOHTTP, LITESTAR, HTTPX, GATEWAY]
# Interleaving order: gateway+otel right after the gateway, the baseline after both.
TARGET_ORDER = [*ALL_TARGETS, GATEWAY_OTEL]
TARGET_ALIASES = {
    "direct": DIRECT,
    "nginx": DIRECT,
    "aiohttp": AIOHTTP,
    AIOHTTP: AIOHTTP,
    "litestar": LITESTAR,
    LITESTAR: LITESTAR,
    "httpx": HTTPX,
    HTTPX: HTTPX,
    "gateway": GATEWAY,
}

# Relative to the repository (or the baseline worktree, which may predate demo.yaml and then
# uses its gateway.yaml, the same permissive config): the shipped gateway.yaml is production's,
# whose unlisted tenants get a small strict budget and a low rate limit.
GATEWAY_CONFIG = "config/demo.yaml"
GATEWAY_JWT_SECRET = "bench-secret-long-enough-for-hs256-0123456789"  # >= 32 bytes
FALLBACK_CLIENT_TOKEN = "bench-client-token"  # the passthroughs ignore it
OTEL_SERVICE_NAME = "ai-gateway-bench"
PROMPT = "Say hello in one short sentence."


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    path: str
    body: dict[str, Any]
    stream: bool
    marker: str  # must appear in every successful response body

    @property
    def accept(self) -> str:
        return "text/event-stream" if self.stream else "application/json"

    @property
    def body_text(self) -> str:
        return json.dumps(self.body, separators=(",", ":"))


_RESPONSES_BODY = {"model": "gpt-5-nano", "input": PROMPT, "max_output_tokens": 64}
_CHAT_BODY = {
    "model": "gpt-5-nano",
    "messages": [{"role": "user", "content": PROMPT}],
    "max_completion_tokens": 64,
}
SCENARIOS = {
    s.name: s
    for s in [
        Scenario(
            "responses",
            "POST /v1/responses, non-streaming",
            "/v1/responses",
            _RESPONSES_BODY,
            False,
            RESPONSE_ID,
        ),
        Scenario(
            "responses-stream",
            "POST /v1/responses, streaming (SSE)",
            "/v1/responses",
            {**_RESPONSES_BODY, "stream": True},
            True,
            "response.completed",
        ),
        Scenario(
            "chat",
            "POST /v1/chat/completions, non-streaming",
            "/v1/chat/completions",
            _CHAT_BODY,
            False,
            CHAT_ID,
        ),
        Scenario(
            "chat-stream",
            "POST /v1/chat/completions, streaming (SSE)",
            "/v1/chat/completions",
            {**_CHAT_BODY, "stream": True, "stream_options": {"include_usage": True}},
            True,
            "[DONE]",
        ),
        # The client asks no usage: the gateway asks for it (to meter) and cuts what that
        # adds back out of the stream, byte by byte (the usage chunk, every "usage": null).
        Scenario(
            "chat-stream-unasked",
            "POST /v1/chat/completions, streaming (SSE), no usage asked",
            "/v1/chat/completions",
            {**_CHAT_BODY, "stream": True},
            True,
            "[DONE]",
        ),
    ]
}
DEFAULT_SCENARIOS = ["responses", "responses-stream"]


@dataclass
class Target:
    name: str
    port: int = 0
    metrics_port: int = 0  # a gateway's /metrics
    service: Service | None = None  # the process tree whose CPU/RSS is measured
    authorization: str = ""
    startup_s: float | None = None
    error: str | None = None  # the target could not be started at all
    scenario_errors: dict[str, str] = field(default_factory=dict)  # failed preflight

    def usable(self, scenario: Scenario) -> bool:
        return self.error is None and scenario.name not in self.scenario_errors

    def url(self, scenario: Scenario) -> str:
        return f"http://127.0.0.1:{self.port}{scenario.path}"


@dataclass
class Sample:
    scenario: str
    target: str
    round: int
    wrk: WrkResult
    cpu_s: float
    cpu_ms_per_req: float | None
    upstream_cpu_ms_per_req: float | None  # nginx's share, for proxy targets
    rss_mb: float


@dataclass
class Config:
    rounds: int
    duration_s: int
    warmup_s: int
    connections: int
    targets: list[str]
    scenarios: list[str]
    ttfb_requests: int
    results_path: Path
    baseline: str | None = None  # --baseline REV, as given
    tracing: bool = False  # --tracing: also measure gateway+otel


@dataclass(frozen=True)
class Baseline:
    """The revision ``--baseline`` names, resolved, and where its worktree goes."""

    rev: str  # as given on the command line
    commit: str  # full hash
    short: str
    worktree: Path

    @property
    def target(self) -> str:
        return f"{GATEWAY}@{self.short}"

    def describe(self) -> dict[str, str]:
        return {"rev": self.rev, "commit": self.commit, "short": self.short, "target": self.target}


# --- environment ---------------------------------------------------------------------------


def _command_output(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    return (proc.stdout + proc.stderr).strip()


def _find_binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise SystemExit(f"bench: {name} not found (bench/run installs it with apt-get)")
    return found


def environment(nginx: str, *, tracing: bool = False) -> dict[str, Any]:
    cpu_model = "unknown"
    with Path("/proc/cpuinfo").open() as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    packages = {}
    names = ["aiohttp", "httpx", "uvicorn", "uvloop", "httptools", "litestar", "orjson"]
    if tracing:
        names += ["opentelemetry-proto"]  # the sink decodes with it; the gateway encodes itself
    for name in names:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = "not installed"
    nginx_version = _command_output([nginx, "-v"]).removeprefix("nginx version: nginx/")
    wrk_version = _command_output(["wrk", "-v"]).splitlines()[0].split("[")[0]
    git = ["git", "-C", str(REPO_ROOT)]
    revision = _command_output([*git, "rev-parse", "--short", "HEAD"])
    if " " in revision:
        revision = "no commit"
    elif _command_output([*git, "status", "--porcelain", "--", "gateway", "config"]):
        revision += " + uncommitted changes"  # the gateway target runs the working tree
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": packages,
        "nginx": nginx_version,
        "wrk": wrk_version.removeprefix("wrk ").strip(),
        "gateway_revision": revision,
    }


# --- starting targets ---------------------------------------------------------------------


def start_nginx(sup: Supervisor, nginx: str, workdir: Path) -> Target:
    port = free_port()
    config = write_nginx_config(workdir, port)
    service = sup.spawn("nginx", [nginx, "-p", str(workdir), "-c", str(config)])
    target = Target(DIRECT, port, service=service, authorization=f"Bearer {UPSTREAM_API_KEY}")
    target.startup_s = wait_http_ok(service, port, "/healthz", timeout=10)
    return target


def start_passthrough(sup: Supervisor, name: str, module: str, upstream_port: int) -> Target:
    port = free_port()
    env = {
        **os.environ,
        "BENCH_UPSTREAM": f"http://127.0.0.1:{upstream_port}",
        "BENCH_API_KEY": UPSTREAM_API_KEY,
    }
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        f"{module}:app",
        "--app-dir",
        str(BENCH_DIR),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    target = Target(name, port)
    # A passthrough has no health route of its own (it forwards GET /healthz to nginx):
    # any HTTP answer means it is up.
    target.service = sup.spawn(name, argv, env=env, cwd=REPO_ROOT)
    try:
        target.startup_s = _wait_any_http(target.service, port, timeout=30)
    except RuntimeError as exc:
        target.error = f"{exc}\n{target.service.log_tail()}"
    return target


def _wait_any_http(service: Service, port: int, timeout: float) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if not service.alive():
            raise RuntimeError(f"{service.name} exited with code {service.proc.returncode}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
        try:
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return time.perf_counter() - service.started_at
        except OSError:
            time.sleep(0.02)
        finally:
            conn.close()
    raise RuntimeError(f"{service.name} not ready after {timeout:.0f} s")


def _gateway_env(upstream_port: int, db_path: Path) -> dict[str, str]:
    return {
        **_tracing_env(),
        "OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
        "OPENAI_API_KEY": UPSTREAM_API_KEY,
        "GATEWAY_JWT_SECRET": GATEWAY_JWT_SECRET,
        "GATEWAY_DATABASE_URL": f"sqlite:///{db_path}",
        "GATEWAY_METRICS_PORT": str(free_port()),  # /metrics has its own port
    }


def _gateway_token(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[str | None, str]:
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"gateway token: {exc}"
    lines = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-10:])
        return None, f"gateway token exited {proc.returncode}: {tail}"
    return lines[-1], ""


def _start_gateway(
    sup: Supervisor,
    target: Target,
    command: list[str],
    config: Path,
    env: dict[str, str],
    cwd: Path,
    tenant: str = "bench",
) -> Target:
    """``command serve`` / ``command token`` with the given config file, env and cwd."""
    target.metrics_port = int(env.get("GATEWAY_METRICS_PORT", 0))
    config_args = ["--config", str(config)]
    token_argv = [*command, "token", "--tenant", tenant, *config_args]
    # The token first (it may set up the tenant the server loads); again once the server
    # is up if that failed (it may need the schema the server creates).
    token, token_error = _gateway_token(token_argv, env, cwd)
    target.service = sup.spawn(
        target.name,
        [*command, "serve", *config_args, "--port", str(target.port)],
        env=env,
        cwd=cwd,
    )
    try:
        target.startup_s = wait_http_ok(target.service, target.port, "/healthz", timeout=60)
    except RuntimeError as exc:
        target.error = f"{exc}\n{target.service.log_tail()}"
        return target
    if token is None:
        token, token_error = _gateway_token(token_argv, env, cwd)
    if token is None:
        target.error = token_error
        return target
    target.authorization = f"Bearer {token}"
    return target


def start_gateway(
    sup: Supervisor,
    upstream_port: int,
    workdir: Path,
    name: str = GATEWAY,
    extra_env: dict[str, str] | None = None,
    db_name: str = "bench.db",
) -> Target:
    target = Target(name, free_port())
    gateway = Path(os.environ.get("BENCH_GATEWAY_BIN") or BIN_DIR / "gateway")
    if not gateway.exists():
        target.error = f"{gateway} not found"
        return target
    env = {**_gateway_env(upstream_port, workdir / db_name), **(extra_env or {})}
    return _start_gateway(sup, target, [str(gateway)], REPO_ROOT / GATEWAY_CONFIG, env, REPO_ROOT)


# --- tracing (--tracing) ------------------------------------------------------------------


def _tracing_env() -> dict[str, str]:
    """The inherited environment without OTEL_* settings, so that only what the bench sets
    turns tracing on (the plain gateway and the baseline must not trace, whatever the shell
    exports)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}


def start_otlp_sink(sup: Supervisor) -> tuple[Service | None, int, str | None]:
    """The OTLP/HTTP sink (``otlp_sink.py``) in its own process: (service, port, error)."""
    port = free_port()
    service = sup.spawn(
        "otlp-sink",
        [sys.executable, str(BENCH_DIR / "otlp_sink.py"), "--port", str(port)],
        env=_tracing_env(),
        cwd=REPO_ROOT,
    )
    try:
        wait_http_ok(service, port, "/healthz", timeout=30)
    except RuntimeError as exc:
        return service, port, f"OTLP sink: {exc}\n{service.log_tail()}"
    return service, port, None


def start_gateway_otel(
    sup: Supervisor, upstream_port: int, workdir: Path, sink_port: int
) -> Target:
    """The same gateway with tracing on, exporting over OTLP/HTTP to the sink."""
    extra_env = {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{sink_port}/v1/traces",
        "OTEL_SERVICE_NAME": OTEL_SERVICE_NAME,
    }
    return start_gateway(sup, upstream_port, workdir, GATEWAY_OTEL, extra_env, "bench-otel.db")


def _http_get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _requests_answered(port: int) -> int | None:
    """Sum of the gateway's ``gateway_requests_total`` counter (its Prometheus /metrics)."""
    try:
        status, body = _http_get(port, "/metrics")
    except OSError:
        return None
    if status != 200:
        return None
    total = 0.0
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("gateway_requests_total{") or line.startswith("gateway_requests_total "):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def _count_in_log(path: Path, needle: bytes) -> int:
    try:
        with path.open("rb") as log:
            return sum(line.count(needle) for line in log)
    except OSError:
        return 0


def finish_tracing(
    sup: Supervisor, otel: Target, sink: Service | None, sink_port: int
) -> dict[str, Any]:
    """Stop gateway+otel (its shutdown flushes the span queue), then read the sink's counts."""
    result: dict[str, Any] = {
        "sink_port": sink_port,
        "endpoint": f"http://127.0.0.1:{sink_port}/v1/traces",
        "service_name": OTEL_SERVICE_NAME,
        "gateway_requests_answered": None,
        "gateway_exit_code": None,
        "dropped_span_log_lines": 0,
        "sink": None,
        "sink_cpu_s": None,
        "error": None,
    }
    if otel.service is not None:
        if otel.service.alive():
            # On the metrics port; a baseline from before it existed serves /metrics publicly.
            answered = _requests_answered(otel.metrics_port)
            if answered is None:
                answered = _requests_answered(otel.port)
            result["gateway_requests_answered"] = answered
        sup.stop(otel.service, timeout=15)
        result["gateway_exit_code"] = otel.service.proc.returncode
        # The exporter logs "span queue full" when it starts dropping spans.
        result["dropped_span_log_lines"] = _count_in_log(otel.service.log_path, b"span queue full")
    if sink is None or not sink.alive():
        result["error"] = "the OTLP sink is not running"
        return result
    result["sink_cpu_s"] = cpu_seconds(sink.pid)
    try:
        status, body = _http_get(sink_port, "/stats")
        if status != 200:
            raise OSError(f"GET /stats -> {status}")
        result["sink"] = json.loads(body)
    except (OSError, ValueError) as exc:
        result["error"] = f"OTLP sink stats: {exc}"
    return result


def resolve_revision(rev: str) -> tuple[str, str] | None:
    """``rev`` as (full hash, short hash) of a commit; None if git does not know it."""
    git = ["git", "-C", str(REPO_ROOT), "rev-parse", "--verify", "--quiet"]
    proc = subprocess.run(
        [*git, f"{rev}^{{commit}}"], capture_output=True, text=True, timeout=30, check=False
    )
    commit = proc.stdout.strip()
    if proc.returncode != 0 or not commit:
        return None
    short = subprocess.run(
        [*git, "--short", commit], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    return commit, short


def _git_worktree(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(REPO_ROOT), "worktree", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def remove_worktree(path: Path) -> None:
    """Unregister and delete the baseline worktree (a no-op if it was never created)."""
    listed = _git_worktree("list", "--porcelain").stdout.splitlines()
    if path.exists() or f"worktree {path.resolve()}" in listed:
        proc = _git_worktree("remove", "--force", str(path))
        if proc.returncode != 0:
            log(f"bench: git worktree remove {path}: {proc.stderr.strip()}")
    shutil.rmtree(path, ignore_errors=True)


def start_baseline(
    sup: Supervisor, baseline: Baseline, upstream_port: int, workdir: Path
) -> Target:
    """The gateway at ``baseline.commit``: a detached worktree run by this venv's python."""
    target = Target(baseline.target, free_port())
    worktree = baseline.worktree
    proc = _git_worktree("add", "--detach", str(worktree), baseline.commit)
    if proc.returncode != 0:
        target.error = f"git worktree add {baseline.rev}: {proc.stderr.strip()}"
        return target
    env = _gateway_env(upstream_port, workdir / f"bench-{baseline.short}.db")
    pythonpath = os.environ.get("PYTHONPATH")
    env["PYTHONPATH"] = f"{worktree}{os.pathsep}{pythonpath}" if pythonpath else str(worktree)
    # The package must come from the worktree, not from the venv's editable install of
    # this checkout (that would measure the current gateway twice).
    check = subprocess.run(
        [sys.executable, "-c", "import gateway.cli; print(gateway.cli.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=worktree,
        timeout=60,
        check=False,
    )
    imported = check.stdout.strip()
    if check.returncode != 0 or not Path(imported).is_relative_to(worktree):
        target.error = (
            f"gateway.cli imported from {imported or 'nowhere'}, not from the worktree "
            f"{worktree}\n{check.stderr.strip()}"
        )
        return target
    # Start-up must compare like with like: byte-compile the worktree only if this
    # checkout's package has cached bytecode (there is none under PYTHONDONTWRITEBYTECODE,
    # and then both gateways compile from source at every start).
    if any((REPO_ROOT / "gateway").rglob("__pycache__/*.pyc")):
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(worktree / "gateway")],
            capture_output=True,
            env=env,
            timeout=120,
            check=False,
        )
    command = [sys.executable, "-m", "gateway.cli"]
    config = worktree / GATEWAY_CONFIG
    if not config.exists():  # a baseline from before demo.yaml: its gateway.yaml was as open
        config = worktree / "config/gateway.yaml"
    return _start_gateway(sup, target, command, config, env, worktree)


def preflight(target: Target, scenario: Scenario) -> str | None:
    """One request checked for status, content type and payload; an error text or None."""
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
    try:
        conn.request(
            "POST",
            scenario.path,
            body=scenario.body_text,
            headers={
                "Authorization": target.authorization,
                "Content-Type": "application/json",
                "Accept": scenario.accept,
            },
        )
        resp = conn.getresponse()
        body = resp.read().decode(errors="replace")
        content_type = resp.getheader("content-type", "")
    except OSError as exc:
        return f"preflight request failed: {exc}"
    finally:
        conn.close()
    if resp.status != 200:
        return f"preflight: HTTP {resp.status}: {body[:300]}"
    if scenario.accept not in content_type:
        return f"preflight: content-type {content_type!r}, expected {scenario.accept!r}" + (
            " (is the Accept header forwarded upstream?)" if scenario.stream else ""
        )
    if scenario.marker not in body:
        return f"preflight: {scenario.marker!r} missing from the body: {body[:300]}"
    return None


# --- measuring ----------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _per_request_ms(seconds: float, requests: int) -> float | None:
    return seconds * 1000 / requests if requests else None


def measure(
    cfg: Config, targets: list[Target], upstream: Target, scenario: Scenario, rnd: int
) -> list[Sample]:
    samples = []
    for target in targets:
        if not target.usable(scenario):
            continue
        assert target.service is not None
        if not target.service.alive():
            target.error = f"process exited with code {target.service.proc.returncode}"
            target.error += f"\n{target.service.log_tail()}"
            log(f"  {target.name}: {target.error}")
            continue
        wrk_args: dict[str, Any] = {
            "body": scenario.body_text,
            "accept": scenario.accept,
            "authorization": target.authorization,
            "connections": cfg.connections,
        }
        try:
            if cfg.warmup_s > 0:
                run_wrk(target.url(scenario), duration_s=cfg.warmup_s, **wrk_args)
            pid = target.service.pid
            upstream_pid = upstream.service.pid if upstream.service else pid
            cpu_before, upstream_before = cpu_seconds(pid), cpu_seconds(upstream_pid)
            result = run_wrk(target.url(scenario), duration_s=cfg.duration_s, **wrk_args)
            cpu_s = cpu_seconds(pid) - cpu_before
            upstream_cpu_s = cpu_seconds(upstream_pid) - upstream_before
            rss_mb = rss_bytes(pid) / 2**20
        except RuntimeError as exc:
            target.scenario_errors[scenario.name] = str(exc)
            log(f"  {target.name}: wrk failed: {exc}")
            continue
        sample = Sample(
            scenario=scenario.name,
            target=target.name,
            round=rnd,
            wrk=result,
            cpu_s=cpu_s,
            cpu_ms_per_req=_per_request_ms(cpu_s, result.requests),
            upstream_cpu_ms_per_req=(
                None if target is upstream else _per_request_ms(upstream_cpu_s, result.requests)
            ),
            rss_mb=rss_mb,
        )
        samples.append(sample)
        flag = f"  ERRORS {result.errors}" if result.errors else ""
        log(
            f"  {target.name:20} {result.rps:9.0f} req/s  p50 {result.latency_ms['p50']:7.2f} ms"
            f"  p99 {result.latency_ms['p99']:7.2f} ms  CPU {report.fmt(sample.cpu_ms_per_req, 3)}"
            f" ms/req  RSS {rss_mb:5.1f} MB{flag}"
        )
        time.sleep(0.5)
    return samples


async def measure_ttfb(
    targets: list[Target], scenario: Scenario, requests: int
) -> dict[str, TtfbResult]:
    """``requests`` sequential requests per target, in interleaved batches of <= 50."""
    results = {t.name: TtfbResult() for t in targets if t.usable(scenario)}
    batches = max(1, -(-requests // 50))
    for batch in range(batches):
        size = min(50, requests - batch * 50)
        for target in targets:
            if target.name in results:
                await ttfb_batch(
                    target.port,
                    scenario.path,
                    body=scenario.body_text.encode(),
                    authorization=target.authorization,
                    marker=scenario.marker.encode(),
                    requests=size,
                    result=results[target.name],
                )
    return results


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(
        prog="bench/run", description="Gateway overhead benchmark (see bench/README.md)."
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument(
        "--duration", type=int, default=8, help="measured seconds per wrk run (default 8)"
    )
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds (default 2)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    parser.add_argument(
        "--only",
        default=",".join(ALL_TARGETS),
        metavar="TARGETS",
        help="comma-separated targets: direct, aiohttp, litestar, httpx, gateway (default: all)",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(DEFAULT_SCENARIOS),
        help=f"comma-separated, from {', '.join(SCENARIOS)} (default: %(default)s)",
    )
    parser.add_argument(
        "--ttfb-requests",
        type=int,
        default=200,
        help="sequential streaming requests per target for TTFB; 0 skips (default 200)",
    )
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also measure the gateway as it was at git revision REV (target gateway@<rev>), "
        "run from a temporary worktree with this venv",
    )
    parser.add_argument(
        "--tracing",
        action="store_true",
        help="also measure the gateway with OpenTelemetry tracing on (target gateway+otel), "
        "exporting over OTLP/HTTP to a local sink",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=BENCH_DIR / "RESULTS.md",
        help="where to write the Markdown report (default bench/RESULTS.md)",
    )
    args = parser.parse_args(argv)
    targets = []
    for raw in args.only.split(","):
        name = TARGET_ALIASES.get(raw.strip())
        if name is None:
            parser.error(f"unknown target {raw!r}")
        if name not in targets:
            targets.append(name)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for name in scenarios:
        if name not in SCENARIOS:
            parser.error(f"unknown scenario {name!r}")
    if args.rounds < 1 or args.duration < 1 or args.connections < 1:
        parser.error("--rounds, --duration and --connections must be positive")
    return Config(
        rounds=args.rounds,
        duration_s=args.duration,
        warmup_s=max(0, args.warmup),
        connections=args.connections,
        targets=[t for t in ALL_TARGETS if t in targets],
        scenarios=scenarios,
        ttfb_requests=max(0, args.ttfb_requests),
        results_path=args.results,
        baseline=args.baseline,
        tracing=args.tracing,
    )


def _raise_exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _target_order(name: str) -> int:
    # gateway+otel right after the gateway, then gateway@<rev> (the baseline)
    return TARGET_ORDER.index(name) if name in TARGET_ORDER else len(TARGET_ORDER)


def run(
    cfg: Config, sup: Supervisor, workdir: Path, out_dir: Path, baseline: Baseline | None
) -> int:
    nginx = _find_binary("nginx")
    _find_binary("wrk")
    env = environment(nginx, tracing=cfg.tracing)
    log(f"bench: {env['cpu_model']}, {env['cores']} cores; logs in {sup.log_dir}")

    upstream = start_nginx(sup, nginx, workdir)
    log(f"  nginx upstream on :{upstream.port}")
    targets: list[Target] = []
    gateway_token = ""
    if GATEWAY in cfg.targets:
        gateway = start_gateway(sup, upstream.port, workdir)
        targets.append(gateway)
        if gateway.error:
            log(f"  gateway FAILED: {gateway.error}")
        else:
            gateway_token = gateway.authorization
            log(f"  gateway on :{gateway.port}, ready in {gateway.startup_s:.2f} s")
    otel: Target | None = None
    sink: Service | None = None
    sink_port = 0
    if cfg.tracing:
        sink, sink_port, sink_error = start_otlp_sink(sup)
        if sink_error is None:
            log(f"  OTLP sink on :{sink_port}")
            otel = start_gateway_otel(sup, upstream.port, workdir, sink_port)
        else:
            otel = Target(GATEWAY_OTEL, error=sink_error)
        targets.append(otel)
        if otel.error:
            log(f"  {otel.name} FAILED: {otel.error}")
        else:
            log(f"  {otel.name} on :{otel.port}, ready in {otel.startup_s:.2f} s")
    if baseline is not None:
        base = start_baseline(sup, baseline, upstream.port, workdir)
        targets.append(base)
        if base.error:
            log(f"  {base.name} FAILED: {base.error}")
        else:
            log(f"  {base.name} on :{base.port}, ready in {base.startup_s:.2f} s")
    passthroughs = [
        (AIOHTTP, "passthrough_aiohttp"),
        (LITESTAR, "passthrough_litestar"),
        (HTTPX, "passthrough_httpx"),
    ]
    for name, module in passthroughs:
        if name in cfg.targets:
            target = start_passthrough(sup, name, module, upstream.port)
            target.authorization = gateway_token or f"Bearer {FALLBACK_CLIENT_TOKEN}"
            targets.append(target)
            log(f"  {name} on :{target.port}: {target.error or f'{target.startup_s:.2f} s'}")
    if DIRECT in cfg.targets:
        targets.append(upstream)
    targets.sort(key=lambda t: _target_order(t.name))

    scenarios = [SCENARIOS[name] for name in cfg.scenarios]
    for scenario in scenarios:
        for target in targets:
            if target.error is None and (problem := preflight(target, scenario)):
                target.scenario_errors[scenario.name] = problem
                log(f"  {target.name} / {scenario.name}: {problem}")

    samples: list[Sample] = []
    for scenario in scenarios:
        for rnd in range(1, cfg.rounds + 1):
            log(f"[{scenario.name}] round {rnd}/{cfg.rounds}")
            samples += measure(cfg, targets, upstream, scenario, rnd)

    ttfb: dict[str, dict[str, TtfbResult]] = {}
    if cfg.ttfb_requests:
        for scenario in scenarios:
            if scenario.stream:
                log(f"[{scenario.name}] TTFB, {cfg.ttfb_requests} sequential requests/target")
                ttfb[scenario.name] = asyncio.run(
                    measure_ttfb(targets, scenario, cfg.ttfb_requests)
                )

    tracing: dict[str, Any] | None = None
    if otel is not None:
        tracing = finish_tracing(sup, otel, sink, sink_port)
        log(f"  OTLP sink: {report.sink_line(tracing)}")

    data = {
        "environment": env,
        "config": {**asdict(cfg), "results_path": str(cfg.results_path)},
        "baseline": baseline.describe() if baseline else None,
        "tracing": tracing,
        "scenarios": {
            s.name: {"title": s.title, "path": s.path, "body": s.body} for s in scenarios
        },
        "targets": {
            t.name: {
                "startup_s": t.startup_s,
                "error": t.error,
                "scenario_errors": t.scenario_errors,
            }
            for t in targets
        },
        "samples": [asdict(s) for s in samples],
        "ttfb": {
            scenario: {name: asdict(res) for name, res in per_target.items()}
            for scenario, per_target in ttfb.items()
        },
    }
    data["summary"] = report.summarize(data)
    if baseline is not None:
        data["gateway_vs_baseline"] = report.gateway_vs_baseline(data)
    if tracing is not None:
        data["tracing_vs_gateway"] = report.tracing_vs_gateway(data)
    (out_dir / "results.json").write_text(json.dumps(data, indent=2) + "\n")
    markdown = report.render(data)
    cfg.results_path.write_text(markdown)
    print(report.render_tables(data))
    log(f"bench: wrote {cfg.results_path} and {out_dir / 'results.json'}")
    return 1 if report.problems(data) else 0


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    revision = None
    if cfg.baseline is not None and (revision := resolve_revision(cfg.baseline)) is None:
        log(f"bench: --baseline {cfg.baseline!r} is not a commit in {REPO_ROOT}")
        return 2
    # Ctrl-C must always reach us (a background job starts with SIGINT ignored), and
    # SIGTERM/SIGHUP unwind through the same cleanup.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_exit)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = BENCH_DIR / "out" / stamp
    out_dir.mkdir(parents=True, exist_ok=True)
    sup = Supervisor(out_dir / "logs")
    workdir = Path(tempfile.mkdtemp(prefix="gateway-bench-")).resolve()
    baseline = None
    if cfg.baseline is not None and revision is not None:
        commit, short = revision
        baseline = Baseline(cfg.baseline, commit, short, workdir / f"baseline-{short}")
    try:
        return run(cfg, sup, workdir, out_dir, baseline)
    except KeyboardInterrupt:
        log("bench: interrupted")
        return 130
    except RuntimeError as exc:  # the upstream itself could not start
        log(f"bench: {exc}")
        return 2
    finally:
        sup.close()  # first: the baseline gateway runs from its worktree
        if baseline is not None:
            remove_worktree(baseline.worktree)
        sup.trim_logs()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
