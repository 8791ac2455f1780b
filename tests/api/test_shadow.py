"""Shadow traffic through the official SDK: the client gets the route's answer as before;
a sampled copy then goes, non-streaming and not stored, to the route's candidate, metered as
its own ledger row charged to the shadow account, compared, and reported."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import (
    GatewayServer,
    config_dict,
    env_for_tests,
    ledger_row,
    ledger_rows,
    merged,
    metric_value,
    sdk,
)
from poll import eventually_sync, latest_sync
from redis_server import RedisServer
from sqlalchemy import create_engine, text

from fake_openai import FakeOpenAIServer, Fault

SHADOW = {"ladder": ["gpt-4.1"], "sample": 1.0}
ROUTES = {
    "migrating": {"ladder": ["gpt-5-nano"], "shadow": SHADOW},
    "climbing": {"ladder": ["gpt-5-nano", "gpt-5-mini"], "shadow": SHADOW},
    "bridged": {"ladder": ["gpt-5-nano"], "chat_via_responses": True, "shadow": SHADOW},
    "never": {"ladder": ["gpt-5-nano"], "shadow": {"ladder": ["gpt-4.1"], "sample": 1e-9}},
}
TENANTS = {
    "app": {"models": ["migrating", "never", "climbing", "bridged"]},
    "cached": {"models": ["migrating"], "cache": {"mode": "on"}},
    "capped": {"models": ["migrating"], "max_output_tokens": 300, "store": False},
    "masked": {"models": ["migrating"], "pii": {"mode": "mask", "restore": True}},
    # A strict budget reserves each call's bound: gpt-4.1 with no output cap may cost $6.40.
    "shadows": {"models": [], "budgets": {"daily_usd": 50}},
    "broke": {"models": [], "budgets": {"daily_usd": 0.000001}},
    "slow": {"models": [], "budgets": {"daily_usd": 50}, "limits": {"rpm": 1}},
}


def shadow_config(upstream: str, **shadow: Any) -> dict[str, Any]:
    base = config_dict(upstream, tenants=TENANTS)
    shadow.setdefault("charge_to", "shadows")
    return merged(base, {"routes": ROUTES, "shadow": shadow})


@pytest.fixture
def gw(fake: FakeOpenAIServer, db_url: str, tmp_path: Path) -> Iterator[GatewayServer]:
    config = shadow_config(fake.base_url)
    with GatewayServer(config, database_url=db_url, config_dir=tmp_path) as g:
        yield g


def pairs_now(database_url: str) -> list[dict[str, Any]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            query = text("SELECT * FROM shadow_pair ORDER BY id")
            return [dict(r._mapping) for r in conn.execute(query)]
    finally:
        engine.dispose()


def pairs(database_url: str, at_least: int = 1) -> list[dict[str, Any]]:
    """The compared pairs, once there are ``at_least`` (each is written after its shadow)."""
    rows = latest_sync(lambda: pairs_now(database_url), lambda r: len(r) >= at_least)
    assert len(rows) == at_least, rows
    return rows


def replaced_timeout(config: dict[str, Any], seconds: float) -> dict[str, Any]:
    return merged(config, {"upstreams": {"openai": {"read_timeout_s": seconds}}})


def posted(fake: FakeOpenAIServer, path: str | None = None) -> list[dict[str, Any]]:
    """The bodies of the calls made to the fake (Responses or Chat; ``path``: only those),
    leaving out what other gateways of the session ask it meanwhile (GETs, files)."""
    paths = (path,) if path else ("/v1/responses", "/v1/chat/completions")
    return [r.json() for r in fake.requests if r.method == "POST" and r.path in paths]


def shadow_calls(gw: GatewayServer, result: str) -> float:
    return metric_value(gw, "gateway_shadow_calls_total", route="migrating", result=result)


def test_the_client_gets_the_routes_answer_and_the_candidate_a_copy_charged_to_the_shadow_account(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    raw = sdk(gw, "app").responses.with_raw_response.create(model="migrating", input="hello")
    response = raw.parse()
    assert response.output_text == "Fake answer: hello"
    assert raw.headers["x-gateway-model"] == "gpt-5-nano"
    rid = raw.headers["x-gateway-request-id"]
    (pair,) = pairs(gw.database_url)
    sent = [r.json() for r in fake.requests if r.path == "/v1/responses"]
    assert [s["model"] for s in sent] == ["gpt-5-nano", "gpt-4.1"]
    assert sent[1]["stream"] is False
    assert sent[1]["store"] is False, "a shadow never stores a response upstream"
    assert sent[1]["input"] == "hello"
    client_row = ledger_row(gw.database_url, request_id=rid)
    assert (client_row["tenant"], client_row["shadow_of"]) == ("app", None)
    row = ledger_row(gw.database_url, request_id=f"{rid}.shadow")
    assert (row["tenant"], row["shadow_of"], row["route"]) == ("shadows", "app", "migrating")
    assert (row["requested_model"], row["stream"]) == ("gpt-4.1", False)
    shadow_cost, client_cost = int(str(row["cost_nanos"])), int(str(client_row["cost_nanos"]))
    assert shadow_cost > client_cost > 0, "gpt-4.1 costs more than nano"
    assert pair["request_id"] == rid
    assert (pair["primary_model"], pair["shadow_model"]) == ("gpt-5-nano", "gpt-4.1")
    assert (pair["primary_ok"], pair["shadow_ok"], pair["similarity"]) == (1, 1, 1.0)
    assert (pair["primary_cost_nanos"], pair["shadow_cost_nanos"]) == (
        client_row["cost_nanos"], row["cost_nanos"])  # fmt: skip
    assert pair["primary_json_valid"] is None, "nothing structured was asked"
    assert len(ledger_rows(gw.database_url)) == 2
    assert shadow_calls(gw, "compared") == 1
    cost = metric_value(gw, "gateway_shadow_cost_usd_total", role="shadow", model="gpt-4.1")
    assert cost == pytest.approx(shadow_cost / 1e9)


def test_a_streamed_call_is_compared_with_a_non_streaming_shadow(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(model="gpt-4.1", output_text="A different answer entirely"))
    with sdk(gw, "app").chat.completions.create(
        model="migrating", messages=[{"role": "user", "content": "hi"}], stream=True,
        stream_options={"include_usage": True},
    ) as stream:  # fmt: skip
        text_out = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text_out == "Fake answer: hi"
    (pair,) = pairs(gw.database_url)
    shadow_sent = [b for b in posted(fake) if b["model"] == "gpt-4.1"]
    assert shadow_sent[0]["stream"] is False
    assert "stream_options" not in shadow_sent[0]
    assert pair["endpoint"] == "chat.completions"
    client_row = ledger_row(gw.database_url, request_id=pair["request_id"])
    shadow_row = ledger_row(gw.database_url, request_id=pair["request_id"] + ".shadow")
    assert pair["primary_output_tokens"] == client_row["output_tokens"] == 7, "3 words, 4 reasoning"
    assert pair["shadow_output_tokens"] == shadow_row["output_tokens"] == 4
    assert pair["primary_chars"] == len("Fake answer: hi")
    # {fake, answer, hi} against {a, different, answer, entirely}: 1 shared of 6 words.
    assert pair["similarity"] == pytest.approx(1 / 6)


def test_a_shadow_refusal_and_broken_json_are_counted_against_the_candidate(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(model="gpt-4.1", refusal="I can't help with that."))
    sdk(gw, "app").responses.create(model="migrating", input="q")
    fake.inject(Fault(model="gpt-4.1", output_text='{"city": '))
    fake.inject(Fault(model="gpt-5-nano", output_text='{"city": "Oslo"}'))
    fmt: Any = {"format": {"type": "json_schema", "name": "place", "strict": True, "schema": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
        "additionalProperties": False}}}  # fmt: skip
    sdk(gw, "app").responses.create(model="migrating", input="where", text=fmt)
    refused, broken = pairs(gw.database_url, at_least=2)
    assert (refused["primary_refusal"], refused["shadow_refusal"]) == (0, 1)
    assert refused["similarity"] == 0.0
    assert (broken["primary_json_valid"], broken["shadow_json_valid"]) == (1, 0)
    labels = {"route": "migrating", "role": "shadow", "model": "gpt-4.1"}
    assert metric_value(gw, "gateway_shadow_answers_total", check="refusal", **labels) == 1
    assert metric_value(gw, "gateway_shadow_answers_total", check="json_checked", **labels) == 1
    assert metric_value(gw, "gateway_shadow_answers_total", check="json_valid", **labels) == 0


def test_the_clients_side_is_the_whole_request_escalations_and_all(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(model="gpt-5-nano", status=500))
    raw = sdk(gw, "app").responses.with_raw_response.create(model="climbing", input="q")
    rid = raw.headers["x-gateway-request-id"]
    (pair,) = pairs(gw.database_url)
    rows = [r for r in ledger_rows(gw.database_url, at_least=3) if r["request_id"] == rid]
    assert [r["requested_model"] for r in rows] == ["gpt-5-nano", "gpt-5-mini"]
    assert pair["primary_model"] == "gpt-5-mini", "the rung that answered"
    assert pair["primary_cost_nanos"] == sum(int(str(r["cost_nanos"])) for r in rows)


def test_a_bridged_chat_call_is_shadowed_through_the_same_bridge(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    answer = sdk(gw, "app").chat.completions.create(
        model="bridged", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content == "Fake answer: hi"
    (pair,) = pairs(gw.database_url)
    assert [b["model"] for b in posted(fake, "/v1/responses")] == ["gpt-5-nano", "gpt-4.1"]
    assert posted(fake, "/v1/chat/completions") == []
    assert posted(fake, "/v1/responses")[1]["store"] is False
    assert (pair["endpoint"], pair["shadow_ok"], pair["similarity"]) == ("chat.completions", 1, 1.0)


def test_the_copy_is_shaped_by_the_callers_policy_and_charged_to_the_account(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    raw = sdk(gw, "capped").responses.with_raw_response.create(model="migrating", input="q")
    rid = raw.headers["x-gateway-request-id"]
    pairs(gw.database_url)
    sent = [r.json() for r in fake.requests if r.path == "/v1/responses"]
    assert [(s["model"], s["max_output_tokens"], s["store"]) for s in sent] == [
        ("gpt-5-nano", 300, False), ("gpt-4.1", 300, False)]  # fmt: skip
    row = ledger_row(gw.database_url, request_id=f"{rid}.shadow")
    assert (row["tenant"], row["shadow_of"]) == ("shadows", "capped")


def test_the_candidate_sees_the_masked_input_the_upstream_saw(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    said = "Mail ada@example.com please"
    out = sdk(gw, "masked").responses.create(model="migrating", input=said).output_text
    assert "ada@example.com" in out, "restored for the client"
    pairs(gw.database_url)
    sent = [r.json()["input"] for r in fake.requests if r.path == "/v1/responses"]
    assert len(sent) == 2
    assert sent[0] == sent[1]
    assert "ada@example.com" not in sent[1]


def test_an_unsampled_or_ineligible_call_is_not_copied(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    sdk(gw, "app").responses.create(model="never", input="q")
    sdk(gw, "app").responses.create(model="migrating", input="q", background=True)
    assert [r.json()["model"] for r in fake.requests if r.path == "/v1/responses"] == [
        "gpt-5-nano", "gpt-5-nano"]  # fmt: skip
    assert shadow_calls(gw, "skipped_ineligible") == 1
    assert all(row["shadow_of"] is None for row in ledger_rows(gw.database_url, at_least=2))


def test_a_client_that_leaves_mid_stream_is_not_shadowed(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(model="gpt-5-nano", stall_after_events=2))
    body = {"model": "migrating", "input": "leave early", "stream": True}
    with httpx.stream("POST", f"{gw.base_url}/responses", json=body,
                      headers={"Authorization": f"Bearer {gw.token('app')}"}) as resp:  # fmt: skip
        assert next(resp.iter_bytes()).startswith(b"event: response.created")
    eventually_sync(lambda: shadow_calls(gw, "skipped_client_gone") == 1)
    assert [b["model"] for b in posted(fake)] == ["gpt-5-nano"]


def test_an_answer_from_the_response_cache_is_not_shadowed(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    for _ in range(2):
        raw = sdk(gw, "cached").responses.with_raw_response.create(
            model="migrating", input="q", store=False
        )
    assert raw.headers["x-gateway-cache"] == "hit"
    pairs(gw.database_url)
    assert [r.json()["model"] for r in fake.requests if r.path == "/v1/responses"] == [
        "gpt-5-nano", "gpt-4.1"], "one call upstream, one shadow"  # fmt: skip


@pytest.mark.parametrize(("account", "result"), [
    ("broke", "skipped_budget"), ("slow", "skipped_rate_limited")])  # fmt: skip
def test_a_shadow_is_skipped_when_its_account_has_no_budget_or_rate_left(
    fake: FakeOpenAIServer, db_url: str, account: str, result: str
) -> None:
    with GatewayServer(shadow_config(fake.base_url, charge_to=account), database_url=db_url) as gw:
        client = sdk(gw, "app")
        for _ in range(2):
            assert client.responses.create(model="migrating", input="q").output_text
        eventually_sync(lambda: shadow_calls(gw, result) == (2 if account == "broke" else 1))
        shadow_sent = [b for b in posted(fake) if b["model"] == "gpt-4.1"]
        rows = ledger_rows(gw.database_url, at_least=2)
        assert len(shadow_sent) == (0 if account == "broke" else 1)
        assert len([r for r in rows if r["shadow_of"]]) == len(shadow_sent), "no row, no call"


def test_replicas_share_the_shadow_accounts_limits_through_redis(
    fake: FakeOpenAIServer, tmp_path: Path, redis: RedisServer
) -> None:
    config = shadow_config(fake.base_url, charge_to="slow")  # 1 request a minute
    db = f"sqlite:///{tmp_path / 'one.db'}"
    with GatewayServer(config, database_url=db, redis_url=redis.url) as one:
        assert sdk(one, "app").responses.create(model="migrating", input="q").output_text
        eventually_sync(lambda: shadow_calls(one, "compared") == 1)
    db = f"sqlite:///{tmp_path / 'two.db'}"
    with GatewayServer(config, database_url=db, redis_url=redis.url) as two:
        assert sdk(two, "app").responses.create(model="migrating", input="q").output_text
        eventually_sync(lambda: shadow_calls(two, "skipped_rate_limited") == 1)
    assert [b["model"] for b in posted(fake)] == ["gpt-5-nano", "gpt-4.1", "gpt-5-nano"]


def test_the_client_is_not_held_by_its_shadow_and_a_busy_replica_skips(
    fake: FakeOpenAIServer, db_url: str
) -> None:
    config = replaced_timeout(shadow_config(fake.base_url, max_in_flight=1), 30)
    with GatewayServer(config, database_url=db_url) as gw:
        fake.inject(Fault(model="gpt-4.1", stall_after_events=0))  # the shadow hangs
        client = sdk(gw, "app")
        assert client.responses.create(model="migrating", input="q").output_text
        eventually_sync(lambda: metric_value(gw, "gateway_shadow_in_flight") == 1)
        assert client.responses.create(model="migrating", input="q").output_text
        eventually_sync(lambda: shadow_calls(gw, "skipped_busy") == 1)
        assert pairs_now(gw.database_url) == [], "the first shadow is still running"


def test_charged_to_the_caller_the_shadow_uses_the_callers_own_budget(
    fake: FakeOpenAIServer, db_url: str
) -> None:
    with GatewayServer(shadow_config(fake.base_url, charge_to="caller"), database_url=db_url) as gw:
        rid = sdk(gw, "app").responses.with_raw_response.create(
            model="migrating", input="q").headers["x-gateway-request-id"]  # fmt: skip
        row = ledger_row(gw.database_url, request_id=f"{rid}.shadow")
        assert (row["tenant"], row["shadow_of"]) == ("app", "app")


def test_the_report_shows_each_model_pair(gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    for text_in in ("one", "two", "three"):
        sdk(gw, "app").responses.create(model="migrating", input=text_in)
    fake.inject(Fault(model="gpt-4.1", status=500))
    sdk(gw, "app").responses.create(model="migrating", input="four")
    pairs(gw.database_url, at_least=4)
    out = report(gw, "--format", "json")
    (summary,) = json.loads(out)["pairs"]
    assert (summary["primary_model"], summary["shadow_model"], summary["pairs"]) == (
        "gpt-5-nano", "gpt-4.1", 4)  # fmt: skip
    assert (summary["primary_ok"], summary["shadow_ok"]) == (1.0, 0.75)
    assert summary["cost_ratio"] > 1, "gpt-4.1 costs more than gpt-5-nano"
    assert summary["similarity_p50"] == 1.0
    assert summary["similarity_buckets"]["<=1.0"] == 3
    table = report(gw)
    assert "gpt-5-nano -> gpt-4.1" in table
    assert "100% / 75%" in table
    over_http = httpx.get(
        f"{gw.root}/admin/shadow", params={"route": "migrating"},
        headers={"Authorization": f"Bearer {gw.token('alpha', admin=True)}"},
    ).json()  # fmt: skip
    assert over_http == {"object": "gateway.shadow_report", **json.loads(out)}
    denied = httpx.get(f"{gw.root}/admin/shadow?route=migrating",
                       headers={"Authorization": f"Bearer {gw.token('app')}"})  # fmt: skip
    assert (denied.status_code, denied.json()["error"]["code"]) == (403, "admin_required")
    usage = json.loads(cli(gw, "usage", "--by", "tenant,shadow_of", "--format", "json"))
    by_who = {(u["tenant"], u["shadow_of"]): u["requests"] for u in usage}
    assert by_who == {("app", None): 4, ("shadows", "app"): 4}, "the shadows' spend, apart"


def report(gw: GatewayServer, *args: str) -> str:
    return cli(gw, "shadow", "report", "--route", "migrating", *args)


def cli(gw: GatewayServer, *args: str) -> str:
    config = gw.config_file
    assert config is not None
    env = {**env_for_tests(), "GATEWAY_DATABASE_URL": gw.database_url}
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args, "--config", str(config)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout
