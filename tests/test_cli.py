"""The ``gateway`` command as operators and CI use it."""

from __future__ import annotations

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


def test_config_check_reports_problems_and_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "check", CONFIG]) == 0
    assert capsys.readouterr().out.startswith("ok: ")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  gpt-5: {}\nbudgets: {}\n")
    assert main(["config", "check", str(bad)]) == 1
    assert f"{bad}:3: budgets: unknown key" in capsys.readouterr().err


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
    ("command", "upstream_key"),
    [("serve", None), ("demo", "sk-a-real-key-that-demo-must-not-use")],
    ids=["serve-without-key", "demo-even-with-key"],
)
def test_fake_upstream_is_announced_and_serves(
    command: str, upstream_key: str | None, tmp_path: Path
) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "GATEWAY_JWT_SECRET")}
    env["GATEWAY_DATABASE_URL"] = f"sqlite:///{tmp_path / 'g.db'}"
    if upstream_key:
        env["OPENAI_API_KEY"] = upstream_key
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", command, "--config", CONFIG, "--port", str(port)],
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
        token = re.search(r"export OPENAI_API_KEY=(\S+)", output)
        assert token is not None, output
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key=token[1], max_retries=0
        )
        assert client.responses.create(model="gpt-5-nano", input="hi").output_text.startswith(
            "Fake answer"
        )
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json() == {"status": "ready"}
    finally:
        proc.terminate()
        rest, _ = proc.communicate(timeout=20)
    # uvicorn re-raises the SIGTERM after a clean shutdown, so the exit status is -15.
    assert "Application shutdown complete" in rest


@pytest.mark.slow
def test_serve_with_a_real_key_but_no_secret_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_JWT_SECRET"}
    env["OPENAI_API_KEY"] = "sk-real-looking"
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", CONFIG, "--port", str(_free_port())],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 1
    assert "GATEWAY_JWT_SECRET is not set" in done.stderr


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


def test_route_explain_says_which_ladder_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tmp_path / "body.json"
    body.write_text('{"model": "default", "input": "hi", "reasoning": {"effort": "high"}}')
    assert main(["route", "explain", "--tenant", "search", "--config", CONFIG, str(body)]) == 0
    out = capsys.readouterr().out
    assert "decision:     route default, rule 1 matched" in out
    assert "ladder:       gpt-5-mini -> gpt-5" in out
    assert (
        "1. gpt-5-mini (upstream openai: gpt-5-mini): output cap 2048 (set), reserves up to $"
        in out
    )
    body.write_text('{"model": "gpt-4.1", "input": "hi"}')
    assert main(["route", "explain", "--tenant", "search", "--config", CONFIG, str(body)]) == 1
    assert "refused: 403 model_not_allowed" in capsys.readouterr().out


@pytest.mark.slow
def test_sighup_reloads_the_config(tmp_path: Path) -> None:
    import signal

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env |= {
        "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}",
        "GATEWAY_JWT_SECRET": "s" * 32,
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
    for _ in range(50):
        if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
            break
    time.sleep(0.5)
    proc.terminate()
    rest, _ = proc.communicate(timeout=20)
    assert "config reloaded (SIGHUP)" in output + rest
