"""The ``gateway`` command as operators and CI use it."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import openai
import pytest
from poll import eventually_sync

from gateway.cli import main, parse_duration

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "config" / "gateway.yaml")


def test_token_is_signed_with_the_configured_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_JWT_SECRET", "cli-secret-0123456789abcdef0123456789")
    assert main(["token", "--tenant", "search", "--admin", "--ttl", "2h", "--config", CONFIG]) == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, "cli-secret-0123456789abcdef0123456789", algorithms=["HS256"])
    assert claims["tenant"] == "search"
    assert claims["roles"] == ["gateway-admin"]
    assert claims["exp"] - claims["iat"] == 7200


def test_token_without_secret_explains_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GATEWAY_JWT_SECRET", raising=False)
    assert main(["token", "--tenant", "search", "--config", CONFIG]) == 1
    assert "GATEWAY_JWT_SECRET" in capsys.readouterr().err


def test_token_for_an_unknown_tenant_warns_and_a_lifeless_one_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_JWT_SECRET", "cli-secret-0123456789abcdef0123456789")
    assert main(["token", "--tenant", "serch", "--config", CONFIG]) == 0
    out = capsys.readouterr()
    assert out.out.strip().count(".") == 2, "still a token"
    assert "warning: tenant 'serch' is not in the config" in out.err
    assert "`defaults` policy" in out.err
    with pytest.raises(SystemExit) as refused:
        main(["token", "--tenant", "search", "--ttl", "0s", "--config", CONFIG])
    assert refused.value.code != 0
    assert "not > 0" in capsys.readouterr().err


def test_token_warns_above_the_configured_maximum_lifetime(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_JWT_SECRET", "cli-secret-0123456789abcdef0123456789")
    assert main(["token", "--tenant", "search", "--ttl", "1d", "--config", CONFIG]) == 0
    assert "warning" not in capsys.readouterr().err  # at the maximum (86400 s): no warning
    assert main(["token", "--tenant", "search", "--ttl", "30d", "--config", CONFIG]) == 0
    out = capsys.readouterr()
    assert "warning: a token for 30d lives longer than auth.max_token_ttl_s (1d)" in out.err
    claims = jwt.decode(out.out.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 30 * 86400  # warned, still minted as asked


def test_config_check_reports_problems_and_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "check", CONFIG]) == 0
    assert capsys.readouterr().out.startswith("ok: ")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  gpt-5: {}\nbudgets: {}\n")
    assert main(["config", "check", str(bad)]) == 1
    assert f"{bad}:3: budgets: unknown key" in capsys.readouterr().err


def test_every_command_and_option_has_help() -> None:
    import argparse

    from gateway.cli import _parser

    def walk(parser: argparse.ArgumentParser, name: str) -> list[str]:
        found = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help for a in action._choices_actions}
                for sub, subparser in action.choices.items():
                    if not helps.get(sub):
                        found.append(f"{name} {sub}")
                    found += walk(subparser, f"{name} {sub}")
            elif not action.help:
                found.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
        return found

    assert walk(_parser(), "gateway") == []


def test_usage_since_and_month_are_from() -> None:
    from gateway.cli import _parser

    parse = _parser().parse_args
    assert parse(["usage", "--since", "yesterday"]).start == "yesterday"
    assert parse(["usage", "--month"]).start == "month"
    assert parse(["usage"]).start is None


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800), ("1h", 3600), ("7d", 604800)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("argv", "upstream_key", "tenant"),
    [
        (["serve", "--fake-upstream", "--config", CONFIG], None, "search"),
        (["demo"], "sk-a-real-key-that-demo-must-not-use", "demo"),
    ],
    ids=["serve-fake-upstream", "demo-even-with-key"],
)
def test_fake_upstream_is_announced_and_serves(
    argv: list[str], upstream_key: str | None, tenant: str, tmp_path: Path
) -> None:
    port, metrics_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "GATEWAY_JWT_SECRET")}
    env["GATEWAY_DATABASE_URL"] = f"sqlite:///{tmp_path / 'g.db'}"
    env["GATEWAY_CONFIG"] = CONFIG  # demo loads demo.yaml beside it
    env["GATEWAY_METRICS_PORT"] = str(metrics_port)
    if upstream_key:
        env["OPENAI_API_KEY"] = upstream_key
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", *argv, "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = ""
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        while "Uvicorn running" not in output and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output += line
        assert "BUILT-IN FAKE UPSTREAM" in output
        assert f"a token for tenant {tenant!r}" in output
        # stderr is no terminal here: app logs are JSON lines, the start-up summary one of them
        logs = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        [summary] = [entry for entry in logs if entry["message"].startswith("starting: ")]
        assert (summary["database"], summary["quota"]) == ("sqlite", "memory")
        assert summary["metrics_port"] == metrics_port
        assert summary["config"] == str(
            Path(CONFIG).with_name("demo.yaml") if argv == ["demo"] else CONFIG
        )
        assert any("Uvicorn running" in entry["message"] for entry in logs)
        token = re.search(r"export OPENAI_API_KEY=(\S+)", output)
        assert token is not None, output
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key=token[1], max_retries=0
        )
        model = "gpt-5.4-nano" if argv != ["demo"] else "gpt-5-nano"  # each config's own
        assert client.responses.create(model=model, input="hi").output_text.startswith(
            "Fake answer"
        )
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json() == {"status": "ready"}
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert scraped.status_code == 200
        assert f'tenant="{tenant}"' in scraped.text
        public = httpx.get(f"http://127.0.0.1:{port}/metrics")
        unknown = httpx.get(f"http://127.0.0.1:{port}/no-such-path")
        assert (public.status_code, public.json()) == (404, unknown.json())
    finally:
        proc.terminate()
        rest, _ = proc.communicate(timeout=20)
    # uvicorn re-raises the SIGTERM after a clean shutdown, so the exit status is -15.
    assert "Application shutdown complete" in rest


def one_line(text: str) -> str:
    """The text, asserted to be exactly one line and no traceback."""
    assert "Traceback" not in text
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_serve_without_an_upstream_key_refuses_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("GATEWAY_JWT_SECRET", "s" * 32)
    assert main(["serve", "--config", CONFIG]) == 2
    err = one_line(capsys.readouterr().err)
    assert "OPENAI_API_KEY is not set" in err
    assert "gateway serve --fake-upstream" in err


def test_a_short_hs_secret_is_refused_at_start_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-looking")
    monkeypatch.setenv("GATEWAY_JWT_SECRET", "123456789")
    assert main(["serve", "--config", CONFIG]) == 2
    err = one_line(capsys.readouterr().err)
    assert "GATEWAY_JWT_SECRET is 9 bytes; HS256 needs a secret of at least 32 bytes" in err
    assert "123456789" not in err


UNREACHABLE = "postgresql://gateway:hunter2@127.0.0.1:1/gateway"


@pytest.mark.parametrize(
    "argv",
    [["serve", "--config", CONFIG], ["usage", "--config", CONFIG], ["db", "status"]],
    ids=["serve", "usage", "db-status"],
)
def test_an_unreachable_database_is_one_line(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-looking")
    monkeypatch.setenv("GATEWAY_JWT_SECRET", "s" * 32)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", UNREACHABLE)
    assert main(argv) == 1
    err = one_line(capsys.readouterr().err)
    assert "cannot reach the database at postgresql://gateway:***@127.0.0.1:1/gateway" in err
    assert "hunter2" not in err


@pytest.mark.parametrize(
    "argv",
    [["serve", "--no-such-flag"], ["serve", "--port", "eighty"], ["token"], ["launch"], []],
    ids=["unknown-flag", "bad-value", "missing-required", "unknown-command", "nothing"],
)
def test_bad_flags_are_one_short_error_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    err = one_line(capsys.readouterr().err)
    assert re.fullmatch(r"gateway( \w+)?: .+ \(see `gateway( \w+)? --help`\)", err), err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"gateway {version('gateway')}"


@pytest.mark.parametrize("command", ["serve", "check", "usage"])
def test_a_missing_config_is_one_line(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-looking")
    missing = str(tmp_path / "nope.yaml")
    argv = {"serve": ["serve", "--config", missing], "check": ["config", "check", missing],
            "usage": ["usage", "--config", missing]}[command]  # fmt: skip
    assert main(argv) == 1
    err = one_line(capsys.readouterr().err)
    assert err.startswith(f"config {missing} is invalid: ")
    assert "No such file or directory" in err


@pytest.mark.slow
def test_a_second_gateway_on_the_same_ledger_is_refused_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_REDIS_URL"}
    env |= {
        "OPENAI_API_KEY": "sk-real-looking",
        "GATEWAY_JWT_SECRET": "s" * 32,
        "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}",
    }

    def serve(port: int) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", CONFIG,
             "--port", str(port)],
            cwd=tmp_path, env={**env, "GATEWAY_METRICS_PORT": str(_free_port())},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    port = _free_port()
    first = serve(port)
    try:

        def healthy() -> bool:
            assert first.poll() is None, first.communicate()
            with contextlib.suppress(httpx.TransportError):
                return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
            return False

        eventually_sync(healthy, 20, 0.1, what="the first gateway to start")
        second = serve(_free_port())
        out, err = second.communicate(timeout=30)
        assert second.returncode == 1
        told = [line for line in err.splitlines() if line.startswith("gateway:")]
        assert told == [
            f"gateway: cannot start: Another gateway is already running on the SQLite file "
            f"{tmp_path / 'shared.db'} with in-process limits and budgets. Two would each admit "
            "a tenant's whole budget. To run several gateways, set GATEWAY_REDIS_URL (shared "
            "limits and budgets) on all of them; to run one, stop the other."
        ]
        assert "Traceback" not in out + err
    finally:
        first.terminate()
        first.communicate(timeout=20)


@pytest.mark.slow
def test_serve_with_a_real_key_but_no_secret_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_JWT_SECRET"}
    env["OPENAI_API_KEY"] = "sk-real-looking"
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", CONFIG, "--port", str(_free_port())],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2
    assert "GATEWAY_JWT_SECRET is not set" in one_line(done.stderr)


def test_usage_without_a_ledger_says_where_it_looked_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GATEWAY_DATABASE_URL", raising=False)
    assert main(["usage", "--config", CONFIG]) != 0
    err = capsys.readouterr().err
    assert f"no ledger at {tmp_path.resolve()}" in err
    assert list(tmp_path.iterdir()) == [], "no empty database was made to report $0 from"


def test_usage_prints_the_ledger_as_csv(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio
    from datetime import UTC, datetime

    from gateway.db import make_engine
    from gateway.ledger import Ledger, LedgerRecord

    async def write() -> None:
        ledger = Ledger(make_engine(db_url))
        for i, (tenant, cost) in enumerate(
            [("search", 1_500_000), ("search", 500_000), ("ads", 7)]
        ):
            ledger.record(
                LedgerRecord(
                    request_id=f"req_{i}", attempt=1, ts=datetime(2026, 11, 25, 10, tzinfo=UTC),
                    tenant=tenant, endpoint="responses", requested_model="gpt-5-nano",
                    status=200, outcome="completed", input_tokens=10, output_tokens=5,
                    cost_nanos=cost,
                )
            )  # fmt: skip
        await ledger.aclose()

    asyncio.run(write())
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    args = [
        "usage",
        "--config",
        CONFIG,
        "--group-by",
        "tenant",
        "--format",
        "csv",
        "--from",
        "2026-11-25",
    ]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split(",")
    rows = {r.split(",")[header.index("tenant")]: r.split(",") for r in lines[1:]}
    assert rows["search"][header.index("cost_usd")] == "0.002000"
    assert rows["search"][header.index("requests")] == "2"
    assert rows["ads"][header.index("cost_usd")] == "0.000000"
    assert main([*args[:-2], "--from", "not-a-date"]) == 2


def _write_ledger(db_url: str, calls: list[tuple[str, str, str | None, int]]) -> None:
    """(request id, tenant, subject, cost) per attempt, all on 2026-11-25."""
    import asyncio
    from datetime import UTC, datetime

    from gateway.db import make_engine
    from gateway.ledger import Ledger, LedgerRecord

    async def write() -> None:
        ledger = Ledger(make_engine(db_url))
        attempts: dict[str, int] = {}
        for request_id, tenant, subject, cost in calls:
            attempts[request_id] = attempts.get(request_id, 0) + 1
            ledger.record(
                LedgerRecord(
                    request_id=request_id, attempt=attempts[request_id],
                    ts=datetime(2026, 11, 25, 10, tzinfo=UTC), tenant=tenant, subject=subject,
                    endpoint="responses", route="default", requested_model="gpt-5-nano",
                    status=200, outcome="completed", input_tokens=10, output_tokens=5,
                    cost_nanos=cost,
                )
            )  # fmt: skip
        await ledger.aclose()

    asyncio.run(write())


def test_usage_by_calling_service_with_requests_attempts_and_a_total(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_ledger(
        db_url,
        [
            ("req_a", "search", "indexer", 1_000_000),
            ("req_a", "search", "indexer", 2_000_000),  # escalated: a second attempt
            ("req_b", "search", "ranker", 500_000),
            ("req_c", "ads", "ranker", 7),
        ],
    )
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    assert main(["usage", "--config", CONFIG, "--by", "subject", "--from", "2026-11-25"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "subject", "requests", "attempts", "input_tokens", "output_tokens", "cost_usd"
    ]  # fmt: skip
    assert lines[2].split() == ["indexer", "1", "2", "20", "10", "0.003000"]
    assert lines[3].split() == ["ranker", "2", "2", "20", "10", "0.000500"]
    assert lines[5].split() == ["total", "3", "4", "40", "20", "0.003500"]

    assert main(["usage", "--config", CONFIG, "--by", "route,tenant", "--format", "csv"]) == 0
    rows = capsys.readouterr().out.splitlines()
    header = rows[0].split(",")
    assert [(r.split(",")[header.index("route")], r.split(",")[header.index("tenant")])
            for r in rows[1:]] == [("default", "ads"), ("default", "search")]  # fmt: skip


def test_usage_of_a_tenant_unknown_to_the_config_and_the_ledger_says_so(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_ledger(db_url, [("req_a", "search", "indexer", 1), ("req_b", "gone", None, 2)])
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    assert main(["usage", "--config", CONFIG, "--tenant", "serch"]) == 1
    captured = capsys.readouterr()
    assert "no tenant 'serch' in the config or the ledger (the config's tenants: " in captured.err
    assert "search" in captured.err
    assert captured.out == ""
    # A tenant since removed from the config still has its calls shown, with a warning.
    assert main(["usage", "--config", CONFIG, "--tenant", "gone", "--by", "tenant"]) == 0
    captured = capsys.readouterr()
    assert "tenant 'gone' is not in the config" in captured.err
    assert captured.out.splitlines()[2].split()[:3] == ["gone", "1", "1"]
    # A known tenant with nothing in the period: an empty table that says so.
    assert main(["usage", "--config", CONFIG, "--tenant", "search", "--to", "2026-11-25"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "(no calls in the ledger match)"


def test_route_explain_says_which_ladder_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tmp_path / "body.json"
    body.write_text('{"model": "default", "input": "hi", "reasoning": {"effort": "high"}}')
    assert main(["route", "explain", "--tenant", "search", "--config", CONFIG, str(body)]) == 0
    out = capsys.readouterr().out
    assert "decision:     route default, rule 1 matched" in out
    assert "ladder:       gpt-5.4-mini -> gpt-5.4" in out
    assert (
        "1. gpt-5.4-mini (upstream openai: gpt-5.4-mini): output cap 2048 (set), reserves up to $"
        in out
    )
    body.write_text('{"model": "gpt-4.1", "input": "hi"}')
    assert main(["route", "explain", "--tenant", "search", "--config", CONFIG, str(body)]) == 1
    assert "refused: 403 model_not_allowed" in capsys.readouterr().out


@pytest.mark.slow
def test_sighup_reloads_the_config(tmp_path: Path) -> None:
    import signal

    port, metrics_port = _free_port(), _free_port()
    env = dict(os.environ)
    env |= {
        "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}",
        "GATEWAY_JWT_SECRET": "s" * 32,
        "OPENAI_API_KEY": "sk-real-looking",  # never called: no request is made
        "GATEWAY_METRICS_PORT": str(metrics_port),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", CONFIG, "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    output = ""
    deadline = time.monotonic() + 20
    while "Uvicorn running" not in output and time.monotonic() < deadline:
        output += proc.stdout.readline()
    proc.send_signal(signal.SIGHUP)

    def reloaded() -> bool:
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        return 'gateway_config_reloads_total{result="ok"} 1.0' in scraped

    eventually_sync(reloaded, 10, 0.05, what="a reload counted after SIGHUP")
    proc.terminate()
    rest, _ = proc.communicate(timeout=20)
    assert "config reloaded (SIGHUP)" in output + rest


def test_usage_groups_by_a_tag_with_untagged_calls_as_none(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio
    from datetime import UTC, datetime

    from gateway.db import make_engine
    from gateway.ledger import Ledger, LedgerRecord

    async def write() -> None:
        ledger = Ledger(make_engine(db_url))
        for i, tags in enumerate(["env=prod,feature=rerank", "feature=rerank", None]):
            ledger.record(
                LedgerRecord(
                    request_id=f"req_{i}", attempt=1, ts=datetime(2026, 11, 25, 10, tzinfo=UTC),
                    tenant="search", endpoint="responses", requested_model="gpt-5-nano",
                    status=200, outcome="completed", cost_nanos=1_000_000, tags=tags,
                )
            )  # fmt: skip
        await ledger.aclose()

    asyncio.run(write())
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    assert main(["usage", "--config", CONFIG, "--by", "tag:feature", "--from", "2026-11-25"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["tag", "requests"]
    assert [(line.split()[0], line.split()[-1]) for line in lines[2:4]] == [
        ("(none)", "0.001000"),
        ("rerank", "0.002000"),
    ]
    assert lines[-1].split()[0] == "total"
    assert main(["usage", "--config", CONFIG, "--by", "tag:feature,tag:env"]) == 2
    assert "one tag key at a time" in capsys.readouterr().err


def test_usage_by_service_and_forecasts_from_the_ledger(
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import asyncio
    from datetime import UTC, datetime

    from gateway.db import make_engine
    from gateway.ledger import Ledger, LedgerRecord

    async def write() -> None:
        ledger = Ledger(make_engine(db_url))
        for i, service in enumerate(["rerank", "rerank", "other", None]):
            ledger.record(
                LedgerRecord(
                    request_id=f"req_{i}", attempt=1, ts=datetime(2026, 11, 25, 10, tzinfo=UTC),
                    tenant="search", endpoint="responses", requested_model="gpt-5-nano",
                    status=200, outcome="completed", cost_nanos=1_000_000, service=service,
                )
            )  # fmt: skip
        await ledger.aclose()

    asyncio.run(write())
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    config = tmp_path / "gateway.yaml"  # the search team's budgets alone: the forecast's scopes
    config.write_text(
        f"accounting: {{pricing_file: {ROOT / 'config' / 'pricing.yaml'}}}\n"
        "models: {gpt-5-nano: {}}\n"
        "tenants:\n  search: {models: ['*'], budgets: {daily_usd: 50, monthly_usd: 1000}}\n"
    )
    own = str(config)
    assert main(["usage", "--config", own, "--by", "service", "--from", "2026-11-25"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["service", "requests"]
    assert [(line.split()[0], line.split()[-1]) for line in lines[2:5]] == [
        ("-", "0.001000"),  # no service, as a call without a route
        ("other", "0.001000"),
        ("rerank", "0.002000"),
    ]
    assert main(["usage", "--config", own, "--by", "service", "--service", "rerank", "--format", "csv"]) == 0  # fmt: skip
    [row] = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert (row["service"], row["requests"], row["cost_usd"]) == ("rerank", "2", "0.002000")

    at = "2026-11-25T12:00:00+00:00"
    assert main(["usage", "--config", own, "--forecast", "--at", at, "--format", "json"]) == 0
    forecasts = {(f["tenant"], f["scope"]): f for f in json.loads(capsys.readouterr().out)}
    assert set(forecasts) == {
        ("search", "tenant"),
        ("search", "service:rerank"),
        ("search", "service:other"),
    }
    total = forecasts["search", "tenant"]
    assert (total["spent_today_usd"], total["spent_month_usd"]) == ("0.004000", "0.004000")
    assert [(b["window"], b["limit_usd"], b["exhausts_at"]) for b in total["budgets"]] == [
        ("day", "50.000000", None),
        ("month", "1000.000000", None),
    ]
    assert total["anomaly_score"] is None  # under a week of history
    assert main(["usage", "--config", own, "--forecast", "--at", at, "--service", "rerank"]) == 0  # fmt: skip
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["tenant", "scope", "today"]
    assert [line.split()[:3] for line in table[2:]] == [["search", "service:rerank", "0.002000"]]
    assert main(["usage", "--config", own, "--forecast", "--format", "csv"]) == 2
