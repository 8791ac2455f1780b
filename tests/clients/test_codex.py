"""The Codex CLI (`codex exec`, read-only sandbox), unchanged, with the gateway as its only
model provider: over HTTP/SSE and over the Responses WebSocket. It must complete on the first
try: one upstream request (HTTP) or one socket (WebSocket), no retry, no fallback to HTTP."""

from __future__ import annotations

from pathlib import Path

from clients.node import explain, installed, run
from harness import GatewayServer, ledger_rows
from poll import latest_sync

from fake_openai import FakeOpenAIServer

PROMPT = "Reply with one word"


def codex_home(tmp_path: Path, gw: GatewayServer, *, websocket: bool) -> Path:
    """A CODEX_HOME whose config names the gateway as the provider and turns off what would
    reach other hosts (plugin sync, update checks, web search, analytics)."""
    home = tmp_path / "codex"
    home.mkdir()
    (home / "config.toml").write_text(
        f"""model = "gpt-5-nano"
model_provider = "gateway"
check_for_update_on_startup = false
web_search = "disabled"

[model_providers.gateway]
name = "gateway"
base_url = "{gw.base_url}"
env_key = "GATEWAY_TOKEN"
wire_api = "responses"
supports_websockets = {"true" if websocket else "false"}
request_max_retries = 4
stream_max_retries = 4

[features]
plugins = false

[analytics]
enabled = false
"""
    )
    return home


def codex_exec(tmp_path: Path, gw: GatewayServer, *, websocket: bool, tenant: str = "alpha") -> str:
    bin_dir = installed() / ".bin"
    home = codex_home(tmp_path, gw, websocket=websocket)
    env = {
        "HOME": str(tmp_path),
        "CODEX_HOME": str(home),
        "GATEWAY_TOKEN": gw.token(tenant),
        # Anything not bound for the gateway goes to a closed local port, never out.
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1",
    }
    work = tmp_path / "work"
    work.mkdir()
    argv = [str(bin_dir / "codex"), "exec", "--skip-git-repo-check", "-s", "read-only"]
    argv += ["-C", str(work), PROMPT]
    done = run(argv, env, timeout_s=120)
    assert done.returncode == 0, explain(done)
    assert "Fake answer:" in done.stdout, explain(done)
    return done.stderr


def test_codex_over_http_sse(
    tmp_path: Path, client_gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    codex_exec(tmp_path, client_gw, websocket=False)
    paths = [(r.method, r.path) for r in fake.requests]
    assert paths == [("POST", "/v1/responses")], paths
    (sent,) = fake.requests
    assert sent.json()["stream"] is True
    assert sent.json()["model"] == "gpt-5-nano"


def test_codex_over_the_responses_websocket(
    tmp_path: Path, client_gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    log = codex_exec(tmp_path, client_gw, websocket=True, tenant="codex")
    paths = [(r.method, r.path) for r in fake.requests]
    assert paths == [("GET", "/v1/responses")], paths  # one socket; no fallback POST
    warm_up, turn = [event for _, event in fake.responses_ws_events]
    assert (warm_up["type"], warm_up["generate"], warm_up["store"]) == (
        "response.create",
        False,
        False,
    )
    # The turn chains to the unstored warm-up on the same socket.
    assert turn["type"] == "response.create"
    assert "generate" not in turn
    assert turn["previous_response_id"].startswith("resp_")
    for word in ("retrying", "reconnecting", "falling back"):
        assert word not in log.lower(), log
    # The warm-up is metered for what it is: its input and no output.
    rows = latest_sync(
        lambda: [r for r in ledger_rows(client_gw.database_url) if r["tenant"] == "codex"],
        lambda rows: len(rows) >= 2,
    )
    assert [(r["endpoint"], r["status"]) for r in rows] == [("responses.websocket", 200)] * 2
    tokens = [(r["input_tokens"], r["output_tokens"], r["reasoning_tokens"]) for r in rows]
    (warm_in, warm_out, warm_reasoning), (_, turn_out, _) = tokens
    assert (warm_out, warm_reasoning) == (0, 0)
    assert isinstance(warm_in, int)
    assert warm_in > 0
    assert isinstance(turn_out, int)
    assert turn_out > 0


def test_codex_falls_back_at_once_when_the_upstream_has_no_socket_mode(
    tmp_path: Path, client_gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    from fake_openai.faults import Fault

    # The upgrade refused, as by an upstream without the socket mode. One fault only: it
    # would match the fallback's POST too; a second upgrade (a retry) would find none and
    # show up as a second GET.
    fake.inject(Fault(path="/v1/responses", status=426))
    log = codex_exec(tmp_path, client_gw, websocket=True)
    paths = [(r.method, r.path) for r in fake.requests]
    assert paths == [("GET", "/v1/responses"), ("POST", "/v1/responses")], (paths, log)
