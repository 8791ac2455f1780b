"""dashboards/: every panel and alert expression runs on a real Prometheus scraping a real gateway.

The static checks need nothing; the live one needs ``prometheus`` and ``promtool`` (the Debian
package), which CI installs (``.ci/run``): it is skipped without them locally, a failure in CI.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import re
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import openai
import pytest
import yaml
from harness import GatewayServer, config_dict, merged
from needs import missing
from poll import eventually_sync, within_sync

from fake_openai import FakeOpenAIServer, Fault, pcm16_silence
from gateway.telemetry.collectors import BudgetLevel, ForecastGauge
from gateway.telemetry.metrics import Metrics

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
DASHBOARD_FILES = sorted(DASHBOARDS.glob("*.json"))
ALERTS = DASHBOARDS / "alerts.yaml"
ALERT_TESTS = DASHBOARDS / "alerts_test.yaml"

TENANTS = {
    "spender": {
        "models": ["*"],
        "budgets": {"daily_usd": 5},
        # The harness's token names the service spender-svc; the tag budget shows from start.
        "services": {"known": {"spender-svc": {"budgets": {"daily_usd": 50}}}},
        "tags": {"keys": ["env"], "budgets": {"env=prod": {"daily_usd": 100}}},
    },
    "capped": {"models": ["*"], "max_output_tokens": 3},
    # Pays for the shadow calls of the route `migrating` (a strict budget bounds each one).
    "shadows": {"models": [], "budgets": {"daily_usd": 50}},
}
ROUTES = {
    "default": {
        "ladder": ["gpt-5-nano", "gpt-5-mini", "gpt-4.1"],
        "escalate_on": ["upstream_error", "incomplete"],
    },
    # The migration dashboard's pairs: every call copied to a candidate nothing else calls.
    "migrating": {"ladder": ["gpt-5-nano"], "shadow": {"ladder": ["gpt-4.1-mini"], "sample": 1.0}},
}
SHADOW = {"charge_to": "shadows"}
# The shadow's model, configured beside the harness's.
CANDIDATE: dict[str, Any] = {"gpt-4.1-mini": {}}


# --------------------------------------------------------------------------- helpers


def exported_metrics() -> dict[str, set[str]]:
    """Every series name the gateway can export (suffixes included) -> its label names."""
    names: dict[str, set[str]] = {}
    metrics = Metrics()
    metrics.watch_budgets(
        lambda: [
            BudgetLevel("t", "day", "_all", 1.0, 1.0),
            BudgetLevel("t", "day", "_all", 1.0, 1.0, "service:s"),
        ]
    )
    metrics.watch_forecasts(lambda: [ForecastGauge("t", "_all", 1.0, 2.0, (("day", 1.0),), 1.0)])
    metrics.watch_quota(SimpleNamespace(replica="r", up=True, fail_open_admits=0, reclaimed=0))
    metrics.watch_upstreams(lambda: [("openai", False)])
    for family in metrics.registry.collect():  # the scrape-time collectors' series
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    for attr in [*vars(metrics).values(), *vars(metrics.shadow).values()]:
        metric = getattr(attr, "_metric", attr)
        if not hasattr(metric, "_labelnames"):
            continue
        labels = set(metric._labelnames)
        for family in metric.describe():
            suffixes = {
                "counter": ("_total",),
                "histogram": ("_bucket", "_count", "_sum"),
                "gauge": ("",),
            }[family.type]
            for suffix in suffixes:
                names[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return names


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # collapsed rows


def panel_exprs() -> list[tuple[str, str, str]]:
    """(file, panel title, expr) for every target of every panel of every dashboard."""
    found = []
    for path in DASHBOARD_FILES:
        for panel in panels(json.loads(path.read_text())):
            for target in panel.get("targets", []):
                found.append((path.name, panel["title"], target["expr"]))
    return found


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def concrete(expr: str) -> str:
    """What Grafana would send with tenant and route = All, a 1m rate interval and a panel
    range of 1h (the test's traffic is minutes old: a day's or a month's increase sees the
    same)."""
    all_of = expr.replace("$tenant", ".*").replace("$route", ".*")
    return all_of.replace("$__rate_interval", "1m").replace("$__range", "1h")


SELECTOR = re.compile(r"\b(gateway_[a-z_]+)\b(\{[^}]*\})?")


# --------------------------------------------------------------------------- static checks


def test_dashboards_are_grafana_json_with_datasource_and_tenant_variables() -> None:
    assert {p.stem for p in DASHBOARD_FILES} >= {
        "overview", "spend", "routing", "realtime", "migration"}  # fmt: skip
    uids = set()
    for path in DASHBOARD_FILES:
        dash = json.loads(path.read_text())
        assert 36 <= dash["schemaVersion"] <= 41, path.name
        uids.add(dash["uid"])
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        assert (variables["datasource"]["type"], variables["datasource"]["query"]) == (
            "datasource",
            "prometheus",
        )
        tenant = variables["tenant"]
        assert tenant["query"] == "label_values(gateway_requests_total, tenant)"
        assert tenant["multi"], path.name
        assert tenant["includeAll"], path.name
        ids = [p["id"] for p in panels(dash)]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for panel in panels(dash):
            assert panel["type"] in {"timeseries", "stat", "heatmap", "row"}, panel["title"]
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]
    assert len(uids) == len(DASHBOARD_FILES)


def test_every_expression_uses_exported_metrics_and_the_tenant_filter() -> None:
    exported = exported_metrics()
    exprs = list(panel_exprs())
    exprs += [("alerts.yaml", rule["alert"], rule["expr"]) for rule in alert_rules()]
    assert len(exprs) > 20
    for file, title, expr in exprs:
        for name, braces in SELECTOR.findall(expr):
            assert name in exported, f"{file}: {title}: {name} is not a gateway metric"
            matchers = re.findall(r"([a-z_]+)\s*[!=]~?", braces)
            unknown = set(matchers) - exported[name]
            assert not unknown, f"{file}: {title}: {name} has no label {unknown}"
            if file.endswith(".json") and "tenant" in exported[name]:
                assert 'tenant=~"$tenant"' in braces, f"{file}: {title}: {name} ignores $tenant"
        if file.endswith(".json") and "rate(" in expr:
            assert "[$__rate_interval]" in expr, title
            assert not re.search(r"\[\d+[smhd]\]", expr), title


def test_every_alert_has_a_severity_and_a_summary() -> None:
    rules = alert_rules()
    assert {r["alert"] for r in rules} >= {
        "GatewayBudgetNearlyExhausted",
        "GatewayHighErrorRatio",
        "GatewayUpstreamFailing",
        "GatewayConfigReloadRejected",
        "GatewayLedgerLagging",
        "GatewayQuotaStoreDown",
    }
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]


# --------------------------------------------------------------------------- live Prometheus


def tool(name: str) -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else "")
    if not found:
        missing(name, "prometheus")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# alpha's call to gpt-4.1 in `traffic` is a call to a deprecated model ("who still calls what").
DEPRECATIONS = {"gpt-4.1": {"sunset": "2027-01-14", "replacement": "gpt-5-mini"}}


def traffic(gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    """One round of everything the dashboards plot: JSON and streams, a repeated prompt (cached
    input), a rejection, an upstream 500, two escalations, an answer the gateway's cap ended
    and a Realtime voice turn."""
    spender = openai.OpenAI(base_url=gw.base_url, api_key=gw.token("spender"), max_retries=0)
    for _ in range(2):
        spender.responses.create(model="gpt-5-nano", input="the same prompt, cached the 2nd time")
    with spender.responses.stream(model="gpt-5-nano", input="count to three") as stream:
        for _event in stream:
            pass
    spender.chat.completions.create(
        model="gpt-5-mini", messages=[{"role": "user", "content": "hello there"}]
    )
    chunks = spender.chat.completions.create(
        model="gpt-5-mini", messages=[{"role": "user", "content": "stream me"}], stream=True
    )
    for _chunk in chunks:
        pass
    fake.inject(Fault(path="/v1/responses", model="gpt-5-nano", status=503))
    spender.responses.create(model="default", input="escalate on an upstream error")
    fake.inject(Fault(path="/v1/responses", model="gpt-5-nano", incomplete=True))
    spender.responses.create(model="default", input="escalate on an incomplete answer")
    beta = openai.OpenAI(base_url=gw.base_url, api_key=gw.token("beta"), max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        beta.responses.create(model="gpt-4.1", input="not allowed")
    fake.inject(Fault(path="/v1/responses", status=500))
    alpha = openai.OpenAI(base_url=gw.base_url, api_key=gw.token("alpha"), max_retries=0)
    with pytest.raises(openai.InternalServerError):
        alpha.responses.create(model="gpt-4.1", input="the upstream fails")
    capped = openai.OpenAI(base_url=gw.base_url, api_key=gw.token("capped"), max_retries=0)
    capped.responses.create(model="gpt-5-nano", input="a long answer, cut by the tenant's cap")
    shadowed(spender, fake)
    asyncio.run(asyncio.wait_for(voice_turn(gw), 20))


PLACE: Any = {"format": {"type": "json_schema", "name": "place", "strict": True, "schema": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
    "additionalProperties": False}}}  # fmt: skip


def shadowed(spender: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    """The shadowed route's calls (each compared after its answer): a plain one, one whose
    candidate refuses, one asking for JSON that both sides answer."""
    spender.responses.create(model="migrating", input="compare me")
    fake.inject(Fault(path="/v1/responses", model="gpt-4.1-mini", refusal="I can't help."))
    spender.responses.create(model="migrating", input="the candidate refuses")
    for model in ("gpt-5-nano", "gpt-4.1-mini"):
        fake.inject(Fault(path="/v1/responses", model=model, output_text='{"city": "Oslo"}'))
    spender.responses.create(model="migrating", input="where", text=PLACE)


async def voice_turn(gw: GatewayServer) -> None:
    """A Realtime session with one audio turn: sessions, audio tokens and realtime spend."""
    sdk = openai.AsyncOpenAI(base_url=gw.base_url, api_key=gw.token("spender"), max_retries=0)
    async with sdk.realtime.connect(model="gpt-realtime") as conn:
        await conn.input_audio_buffer.append(audio=base64.b64encode(pcm16_silence(1.0)).decode())
        await conn.input_audio_buffer.commit()
        await conn.response.create(response={"output_modalities": ["audio"]})
        async for event in conn:
            if event.type == "response.done":
                break


def spend_history(db_url: str) -> None:
    """Nine days of spender's ledger before today, 1 USD an hour: a week of history for the
    anomaly score, and a rate that runs its 5 USD day out (the forecast panels have data).
    Before today, so today's budget is untouched."""
    from datetime import UTC, datetime, timedelta

    from gateway.db import make_engine
    from gateway.ledger import Ledger, LedgerRecord

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    async def write() -> None:
        ledger = Ledger(make_engine(db_url))
        for hour in range(9 * 24):
            ledger.record(
                LedgerRecord(
                    request_id=f"req_history_{hour}", attempt=1,
                    ts=today - timedelta(hours=hour + 1), tenant="spender",
                    endpoint="responses", requested_model="gpt-5-nano", status=200,
                    outcome="completed", cost_nanos=1_000_000_000, service="spender-svc",
                )
            )  # fmt: skip
        await ledger.aclose()

    asyncio.run(write())


class Prometheus:
    def __init__(self, binary: str, tmp: Path, target: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = tmp / "prometheus.yml"
        self.config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(ALERTS)],
                    "scrape_configs": [
                        {
                            "job_name": "gateway",
                            "metrics_path": "/metrics",
                            "static_configs": [{"targets": [target]}],
                        }
                    ],
                }
            )
        )
        self.log = tmp / "prometheus.log"
        self._log_file = self.log.open("wb")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={self.config}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.http = httpx.Client(base_url=self.url, timeout=5)

    def stop(self) -> None:
        self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self._log_file.close()

    def query(self, expr: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.http.get("/api/v1/query", params={"query": expr}).json()
        return answer

    def wait(self, what: str, ok: Callable[[], bool], timeout_s: float) -> None:
        def check() -> bool:
            if self.proc.poll() is not None:
                pytest.fail(f"prometheus exited ({self.proc.returncode}):\n{self.log.read_text()}")
            try:
                return ok()
            except httpx.TransportError:
                return False

        eventually_sync(
            check, timeout_s, 0.2, what=lambda: f"{what}; prometheus log:\n{self.log.read_text()}"
        )

    def target_up(self) -> bool:
        result = self.query('up{job="gateway"}')["data"]["result"]
        return any(series["value"][1] == "1" for series in result)

    def scrapes(self) -> float:
        result = self.query('count_over_time(up{job="gateway"}[1m])')["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0


def has_finite_value(answer: dict[str, Any]) -> bool:
    data = answer["data"]
    if data["resultType"] == "scalar":
        return math.isfinite(float(data["result"][1]))
    return any(math.isfinite(float(series["value"][1])) for series in data["result"])


@pytest.mark.slow
def test_dashboards_and_alerts_run_on_a_real_prometheus(
    fake: FakeOpenAIServer, db_url: str, tmp_path: Path
) -> None:
    prometheus_bin, promtool = tool("prometheus"), tool("promtool")
    print(subprocess.run([prometheus_bin, "--version"], capture_output=True, text=True).stdout)

    checked = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    if ALERT_TESTS.exists():
        unit = subprocess.run(
            [promtool, "test", "rules", str(ALERT_TESTS)], capture_output=True, text=True
        )
        assert unit.returncode == 0, unit.stdout + unit.stderr

    config = merged(
        config_dict(fake.base_url, tenants=TENANTS),
        {"routes": ROUTES, "deprecations": DEPRECATIONS, "shadow": SHADOW, "models": CANDIDATE},
    )
    spend_history(db_url)
    with GatewayServer(config, database_url=db_url) as gw:
        traffic(gw, fake)  # every series exists before the first scrape
        gw.on_loop(lambda: gw.app.services.forecasts.refresh())  # the minute's refresh, now
        target = f"127.0.0.1:{gw.metrics_port}"  # the metrics port, not the public one
        prom = Prometheus(prometheus_bin, tmp_path, target)
        try:
            check = subprocess.run(
                [promtool, "check", "config", str(prom.config)], capture_output=True, text=True
            )
            assert check.returncode == 0, check.stdout + check.stderr
            prom.wait("the gateway target to be up", prom.target_up, 15)
            prom.wait("3 scrapes", lambda: prom.scrapes() >= 3, 15)
            traffic(gw, fake)  # counters move between scrapes: rates and quantiles are real
            seen = prom.scrapes()
            prom.wait("a scrape between the two rounds", lambda: prom.scrapes() > seen, 15)
            traffic(gw, fake)

            exprs = [(f"{f}: {title}", concrete(e)) for f, title, e in panel_exprs()]
            pending: dict[str, Any] = {}

            def all_panels_have_data() -> bool:
                pending.clear()
                for name, expr in exprs:
                    answer = prom.query(expr)
                    assert answer["status"] == "success", f"{name}: {expr}: {answer}"
                    if not has_finite_value(answer):
                        pending[name] = (expr, answer["data"])
                return not pending

            within_sync(all_panels_have_data, 20, 0.5)
            assert not pending, f"panels without data: {json.dumps(pending, indent=1)}"

            by_title = {title: expr for _, title, expr in panel_exprs()}

            def labels(title: str, label: str) -> set[str]:
                answer = prom.query(concrete(by_title[title]))
                return {series["metric"][label] for series in answer["data"]["result"]}

            served = labels("Served model mix (requests/s by the model that served)", "model")
            assert "default" not in served, "a route's alias is not a model that serves"
            assert {"gpt-5-nano", "gpt-5-mini"} <= served  # mini: where the escalations ended
            assert {"upstream_error", "incomplete"} <= labels("Escalations by reason", "reason")
            for title in ("Spent yesterday by team (USD)", "Spent this month so far by team (USD)"):
                assert "spender" in labels(title, "tenant"), title
            assert "compared" in labels("Shadow calls by result (per second)", "result")
            pair = labels("Success rate by role and model", "model")
            assert pair == {"gpt-5-nano", "gpt-4.1-mini"}, "the rung that answered, the candidate"
            refusals = prom.query(concrete(by_title["Refusal rate by role and model"]))
            rate = {s["metric"]["role"]: float(s["value"][1]) for s in refusals["data"]["result"]}
            assert rate["shadow"] > 0 == rate["primary"], "only the candidate refused"

            for rule in alert_rules():
                answer = prom.query(rule["expr"])
                assert answer["status"] == "success", f"{rule['alert']}: {answer}"

            def rules_evaluated() -> bool:
                loaded = prom.http.get("/api/v1/rules").json()["data"]["groups"]
                health = {r["name"]: r["health"] for g in loaded for r in g["rules"]}
                assert "err" not in health.values(), loaded
                return set(health) == {r["alert"] for r in alert_rules()} and all(
                    h == "ok" for h in health.values()
                )

            prom.wait("the alert rules to be evaluated", rules_evaluated, 10)
        finally:
            prom.stop()
