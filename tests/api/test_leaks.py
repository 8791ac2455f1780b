"""The whole upstream fault matrix, many times over, with resources counted before and after.

tests/api/test_errors.py and tests/upstream/ check what a client sees for each fault. This test
checks what is left behind: after every fault has been served a few times the process holds no
more file descriptors than before, the gateway's event loop runs no more asyncio tasks than
before and holds no client connection, and the ledger has exactly one row per upstream attempt.

Everything runs in this process (fakes, gateway, clients), so ``/proc/self/fd`` counts both ends
of every socket: a connection leaked by the gateway shows up as two descriptors.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai
import pytest
from harness import UPSTREAM_KEY, Config, GatewayServer, config_dict, ledger_rows, merged
from openai.types.chat import ChatCompletionMessageParam
from poll import latest_sync

from fake_openai import FakeOpenAIServer, Fault

pytestmark = pytest.mark.slow

ITERATIONS = 3
CIRCUIT_OFF = {"failures": 1000000}  # every call must really reach its upstream
READ_TIMEOUT_S = 2.0  # config_dict's read_timeout_s: what ends every stall
FAST_S = 2.0  # a fault the gateway can see at once is answered well within this
SLOW_S = READ_TIMEOUT_S + 1.5  # a stall is cut by the read timeout, not by the fake giving up
SLOW_HEADERS_S = 4.0  # > READ_TIMEOUT_S, and > SLOW_S: a late answer would be visible
# Upstream pools that can keep one idle keep-alive connection between sequential calls:
# "openai" and "retrying" (both on the main fake) and "slowok". Each such connection is two
# descriptors here (the gateway's socket and the fake's). Baseline and final counts are taken
# after the same sequence of calls, so they normally match exactly; the slack only absorbs a
# keep-alive connection that expired (or was replaced by a new one) between the two readings.
FD_SLACK = 2 * 3
SETTLE_S = 5.0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(main: str, slow_ok: str, slow_body: str, dead: str) -> Config:
    def upstream(url: str, **retries: float) -> dict[str, object]:
        return {
            "base_url": url,
            "api_key_env": "TEST_UPSTREAM_KEY",
            "read_timeout_s": READ_TIMEOUT_S,
            "connect_timeout_s": 1,
            "circuit": CIRCUIT_OFF,
            "retries": {"max_retries": 0, **retries},
        }

    upstreams = {
        "openai": {"circuit": CIRCUIT_OFF},
        "dead": upstream(dead),
        "slowok": upstream(slow_ok),
        "slowbody": upstream(slow_body),
        "retrying": upstream(main, max_retries=2, base_delay_s=0.01, max_delay_s=0.01),
    }
    models = {
        "dead": {"upstream": "dead", "upstream_model": "gpt-4.1-mini"},
        "slow-ok": {"upstream": "slowok", "upstream_model": "gpt-4.1-mini"},
        "slow-body": {"upstream": "slowbody", "upstream_model": "gpt-4.1-mini"},
        "retrying": {"upstream": "retrying", "upstream_model": "gpt-4.1-nano"},
    }
    config = merged(config_dict(main), {"upstreams": upstreams, "models": models})
    assert config["upstreams"]["openai"]["read_timeout_s"] == READ_TIMEOUT_S
    return config


@dataclass
class Env:
    gw: GatewayServer
    main: FakeOpenAIServer
    fakes: tuple[FakeOpenAIServer, ...]  # every fake upstream, main first

    def sdk(self) -> openai.OpenAI:
        """A fresh client per call, closed after it: no client-side keep-alive to count."""
        return openai.OpenAI(
            base_url=self.gw.base_url, api_key=self.gw.token("alpha"), max_retries=0, timeout=10
        )

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.gw.token('alpha')}"}

    def upstream_requests(self) -> int:
        return sum(len(f.requests) for f in self.fakes)


@dataclass(frozen=True)
class Case:
    name: str
    call: Callable[[Env], None]
    faults: tuple[Fault, ...] = ()  # queued on the main fake before the call
    attempts: int = 1  # upstream attempts the gateway makes for this call
    refused: bool = False  # the upstream port is closed: no fake sees the attempt
    max_s: float = FAST_S


MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "a b c d e"}]


def _json_call(model: str = "gpt-5-nano") -> Callable[[openai.OpenAI], object]:
    return lambda client: client.responses.create(model=model, input="a b c d e")


def _chat_json_call(model: str) -> Callable[[openai.OpenAI], object]:
    return lambda client: client.chat.completions.create(model=model, messages=MESSAGES)


def _chat_stream_call(model: str = "gpt-4.1") -> Callable[[openai.OpenAI], object]:
    def call(client: openai.OpenAI) -> object:
        return list(client.chat.completions.create(model=model, messages=MESSAGES, stream=True))

    return call


def _responses_stream_call(model: str) -> Callable[[openai.OpenAI], object]:
    def call(client: openai.OpenAI) -> object:
        return list(client.responses.create(model=model, input="a b c d e", stream=True))

    return call


def status_error(call: Callable[[openai.OpenAI], object], status: int) -> Callable[[Env], None]:
    """The call fails before any answer went out: an OpenAI error with ``status``."""

    def run(env: Env) -> None:
        with env.sdk() as client, pytest.raises(openai.APIStatusError) as err:
            call(client)
        assert err.value.status_code == status, err.value

    return run


def stream_error(call: Callable[[openai.OpenAI], object]) -> Callable[[Env], None]:
    """A stream that started, then failed: it ends with an error event the SDK raises."""

    def run(env: Env) -> None:
        with env.sdk() as client, pytest.raises(openai.APIError) as err:
            call(client)
        assert not isinstance(err.value, openai.APIStatusError), "the stream never started"

    return run


def succeeds(call: Callable[[openai.OpenAI], object]) -> Callable[[Env], None]:
    def run(env: Env) -> None:
        with env.sdk() as client:
            result = call(client)
        assert result

    return run


def raw_stream(path: str, model: str) -> Callable[[Env], None]:
    """Malformed SSE: the SDK cannot parse it, so read the bytes; the stream must end, with
    the gateway's error event after whatever the upstream sent."""

    def run(env: Env) -> None:
        body = {"model": model, "stream": True}
        body |= {"input": "x"} if path == "/responses" else {"messages": MESSAGES}
        with httpx.stream(
            "POST", env.gw.base_url + path, headers=env.auth(), json=body, timeout=10
        ) as resp:
            data = resp.read()
        assert resp.status_code == 200
        assert data.endswith(b"\n\n"), data
        assert b"upstream_stream_truncated" in data.rsplit(b"\n\n", 2)[-2], data

    return run


def raw_json(env: Env) -> None:
    """Malformed JSON with a 200: a clean 502 in OpenAI's shape, not a body no SDK can parse."""
    resp = httpx.post(
        env.gw.base_url + "/responses",
        headers=env.auth(),
        json={"model": "gpt-5-nano", "input": "x"},
        timeout=10,
    )
    assert resp.status_code == 502, (resp.status_code, resp.content)
    assert resp.json()["error"]["code"] == "upstream_invalid_response"


def client_leaves(env: Env) -> None:
    """The client hangs up mid-stream while the upstream stalls."""
    with httpx.stream(
        "POST",
        env.gw.base_url + "/responses",
        headers=env.auth(),
        json={"model": "gpt-4.1", "input": "leave", "stream": True},
        timeout=10,
    ) as resp:
        assert next(resp.iter_bytes()).startswith(b"event: response.created")


def _status_cases() -> Iterator[Case]:
    for status in (500, 502, 503, 429):
        for retry_after in (None, "1"):
            headers = {"Retry-After": retry_after} if retry_after else {}
            suffix = f"{status}{'-retry-after' if retry_after else ''}"
            yield Case(
                f"json-{suffix}",
                status_error(_json_call(), status),
                (Fault(path="/v1/responses", status=status, headers=headers),),
            )
            yield Case(
                f"stream-{suffix}",
                status_error(_chat_stream_call(), status),
                (Fault(path="/v1/chat/completions", status=status, headers=headers),),
            )


HTML = b"<html><body>502 Bad Gateway (nginx)</body></html>"
BROKEN_SSE = b"event: response.created\ndata: {broken\n\n"
SSE = {"Content-Type": "text/event-stream"}  # the fake adds fault headers last: a 200 "stream"

FAST_CASES: tuple[Case, ...] = (
    *_status_cases(),
    Case("json-non-openai-body", status_error(_json_call(), 502),
         (Fault(path="/v1/responses", status=503, body=HTML),)),
    Case("stream-non-openai-body", status_error(_chat_stream_call(), 502),
         (Fault(path="/v1/chat/completions", status=503, body=HTML),)),
    Case("json-connection-dropped", status_error(_json_call(), 502),
         (Fault(path="/v1/responses", drop_connection=True),)),
    Case("stream-connection-dropped", status_error(_chat_stream_call(), 502),
         (Fault(path="/v1/chat/completions", drop_connection=True),)),
    Case("json-connection-refused", status_error(_json_call("dead"), 502), refused=True),
    Case("stream-connection-refused", status_error(_chat_stream_call("dead"), 502), refused=True),
    Case("responses-stream-dropped-midway", stream_error(_responses_stream_call("gpt-5-nano")),
         (Fault(path="/v1/responses", drop_after_events=3),)),
    Case("chat-stream-dropped-midway", stream_error(_chat_stream_call()),
         (Fault(path="/v1/chat/completions", drop_after_events=2),)),
    Case("responses-malformed-sse", raw_stream("/responses", "gpt-5-nano"),
         (Fault(path="/v1/responses", body=BROKEN_SSE, headers=SSE),)),
    Case("chat-malformed-sse", raw_stream("/chat/completions", "gpt-4.1"),
         (Fault(path="/v1/chat/completions", body=b"data: {broken\n\n", headers=SSE),)),
    Case("json-malformed-json", raw_json, (Fault(path="/v1/responses", body=b"{not json"),)),
    Case("client-leaves-stalled-stream", client_leaves,
         (Fault(path="/v1/responses", stall_after_events=2),)),
    # Slow body, but within the read timeout: the stream ends cleanly.
    Case("stream-slow-body", succeeds(_chat_stream_call("slow-ok"))),
    # Retried on the "retrying" upstream: two attempts, two ledger rows, one answer.
    Case("json-503-then-retried", succeeds(_chat_json_call("retrying")),
         (Fault(path="/v1/chat/completions", status=503),), attempts=2),
    Case("stream-429-retry-after-then-retried", succeeds(_chat_stream_call("retrying")),
         (Fault(path="/v1/chat/completions", status=429, headers={"Retry-After": "0"}),),
         attempts=2),
)  # fmt: skip

# Each ends only by the gateway's read timeout, so they run concurrently; each fault names its
# own (path, model), so each call takes its own fault whatever the order of arrival.
SLOW_CASES: tuple[Case, ...] = (
    Case("json-slow-headers", status_error(_json_call("gpt-5-nano"), 504),
         (Fault(path="/v1/responses", model="gpt-5-nano", delay_s=SLOW_HEADERS_S),),
         max_s=SLOW_S),
    Case("stream-slow-headers", status_error(_chat_stream_call("gpt-4.1"), 504),
         (Fault(path="/v1/chat/completions", model="gpt-4.1", delay_s=SLOW_HEADERS_S),),
         max_s=SLOW_S),
    Case("json-stalled-before-headers", status_error(_chat_json_call("gpt-5-mini"), 504),
         (Fault(path="/v1/chat/completions", model="gpt-5-mini", stall_after_events=0),),
         max_s=SLOW_S),
    Case("responses-stream-stalled-midway", stream_error(_responses_stream_call("gpt-5-mini")),
         (Fault(path="/v1/responses", model="gpt-5-mini", stall_after_events=3),),
         max_s=SLOW_S),
    Case("chat-stream-stalled-midway", stream_error(_chat_stream_call("gpt-5-nano")),
         (Fault(path="/v1/chat/completions", model="gpt-5-nano", stall_after_events=2),),
         max_s=SLOW_S),
    # A body slower than the read timeout between two events (its own fake upstream).
    Case("stream-slow-body-past-timeout", stream_error(_chat_stream_call("slow-body")),
         max_s=SLOW_S),
)  # fmt: skip
# Not covered, for want of a Fault field: a slow *JSON* body (the fake writes a JSON answer in
# one piece; ``event_delay_s`` only paces streams) and malformed SSE framing beyond a broken
# ``data:`` line (the fake cannot interleave raw bytes into a real stream).


@dataclass
class Tally:
    calls: int = 0
    attempts: int = 0
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def run_case(env: Env, case: Case, tally: Tally) -> None:
    started = time.monotonic()
    try:
        case.call(env)
    except BaseException as exc:
        raise AssertionError(f"{case.name}: {exc!r}") from exc
    took = time.monotonic() - started
    assert took < case.max_s, f"{case.name} took {took:.2f}s"
    with tally.lock:
        tally.calls += 1
        tally.attempts += case.attempts
        tally.refused += case.refused


def run_round(env: Env, tally: Tally) -> None:
    for case in FAST_CASES:
        for fault in case.faults:
            env.main.inject(fault)
        run_case(env, case, tally)
    for case in SLOW_CASES:
        for fault in case.faults:
            env.main.inject(fault)
    with ThreadPoolExecutor(len(SLOW_CASES)) as pool:
        for future in [pool.submit(run_case, env, case, tally) for case in SLOW_CASES]:
            future.result()


def healthy(env: Env) -> None:
    with env.sdk() as client:
        assert client.responses.create(model="gpt-5-nano", input="ok").status == "completed"
        events = list(client.responses.create(model="gpt-5-nano", input="ok", stream=True))
        assert events[-1].type == "response.completed"
    succeeds(_chat_stream_call("slow-ok"))(env)
    succeeds(_chat_json_call("retrying"))(env)


@dataclass(frozen=True)
class Snapshot:
    fds: int
    tasks: Counter[str]  # the gateway loop's tasks, by coroutine
    connections: int  # client connections uvicorn holds open

    def __str__(self) -> str:
        return f"fds={self.fds} tasks={sum(self.tasks.values())} connections={self.connections}"


def snapshot(gw: GatewayServer) -> Snapshot:
    server = gw._server  # the harness's uvicorn.Server: its loop is the gateway's

    async def inside() -> tuple[Counter[str], int]:
        me = asyncio.current_task()
        tasks = Counter(
            getattr(t.get_coro(), "__qualname__", repr(t.get_coro()))
            for t in asyncio.all_tasks()
            if t is not me
        )
        return tasks, len(server.server_state.connections)

    loop = server.servers[0].get_loop()
    tasks, connections = asyncio.run_coroutine_threadsafe(inside(), loop).result(timeout=5)
    return Snapshot(len(os.listdir("/proc/self/fd")), tasks, connections)


def settled(gw: GatewayServer, baseline: Snapshot) -> Snapshot:
    """Poll until the counts are back to the baseline (or SETTLE_S passed): the last sockets
    and tasks of a failed call close a moment after the client saw its error."""

    def back(now: Snapshot) -> bool:
        return (
            now.fds <= baseline.fds
            and sum(now.tasks.values()) <= sum(baseline.tasks.values())
            and now.connections <= baseline.connections
        )

    return latest_sync(lambda: snapshot(gw), back, SETTLE_S, 0.1)


def test_the_fault_matrix_leaks_no_descriptor_task_or_ledger_row(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'gateway.db'}"
    with (
        FakeOpenAIServer(api_key=UPSTREAM_KEY) as main,
        FakeOpenAIServer(api_key=UPSTREAM_KEY, event_delay_s=0.05) as slow_ok,
        FakeOpenAIServer(api_key=UPSTREAM_KEY, event_delay_s=READ_TIMEOUT_S + 0.5) as slow_body,
    ):
        dead = f"http://127.0.0.1:{_closed_port()}/v1"
        config = _config(main.base_url, slow_ok.base_url, slow_body.base_url, dead)
        with GatewayServer(config, database_url=db_url) as gw:
            env = Env(gw, main, (main, slow_ok, slow_body))

            # 1. Warm up: pools fill, lazy imports and first-use allocations happen.
            warm = Tally()
            healthy(env)
            run_round(env, warm)
            healthy(env)
            warm_requests = env.upstream_requests()
            warm_rows = warm_requests + warm.refused
            assert len(ledger_rows(db_url, at_least=warm_rows)) == warm_rows
            time.sleep(0.5)  # the warm-up's last sockets close: the baseline is an idle gateway
            baseline = snapshot(gw)

            # 2. The matrix, ITERATIONS times.
            started = time.monotonic()
            tally = Tally()
            for _ in range(ITERATIONS):
                run_round(env, tally)
            healthy(env)  # ends the same way as the warm-up, so the idle pools match
            matrix_s = time.monotonic() - started

            # 3. Nothing left behind.
            after = settled(gw, baseline)
            print(f"\nbaseline {baseline}\nafter    {after}\nmatrix {matrix_s:.1f}s, {tally}")
            extra_tasks = after.tasks - baseline.tasks
            assert not extra_tasks, f"tasks left in the gateway loop: {extra_tasks}"
            assert after.connections <= baseline.connections, (baseline, after)
            assert after.fds <= baseline.fds + FD_SLACK, f"descriptors leaked: {baseline} → {after}"

            # 4. One ledger row per upstream attempt: every admitted attempt is recorded in the
            # handler's ``finally`` (gateway/api/proxy.py), a refused connection included, so
            # rows = requests the fakes received + attempts that never reached a fake.
            requests = env.upstream_requests() - warm_requests
            healthy_attempts = 4  # healthy(): 4 calls, each answered at its first attempt
            assert requests + tally.refused == tally.attempts + healthy_attempts
            expected = warm_rows + requests + tally.refused
            rows = ledger_rows(db_url, at_least=expected)
            assert len(rows) == expected
            time.sleep(0.3)  # and no late extra row
            rows = ledger_rows(db_url)
            assert len(rows) == expected
            attempts = Counter((r["request_id"], r["attempt"]) for r in rows)
            assert max(attempts.values()) == 1, "an attempt recorded twice"
            by_request: dict[object, list[int]] = {}
            for r in rows:
                by_request.setdefault(r["request_id"], []).append(int(str(r["attempt"])))
            assert all(sorted(a) == list(range(1, len(a) + 1)) for a in by_request.values())
            retried = [a for a in by_request.values() if len(a) == 2]
            assert len(retried) == 2 * (ITERATIONS + 1)
            refused_rows = [r for r in rows if r["requested_model"] == "dead"]
            assert len(refused_rows) == 2 * (ITERATIONS + 1)
            assert all(r["status"] == 0 for r in refused_rows)

            # 5. And the gateway still serves.
            healthy(env)
