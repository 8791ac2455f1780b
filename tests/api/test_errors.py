"""Bad input and upstream faults: each ends in a clean OpenAI-shaped error, never a crash."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable, Iterator

import httpx
import openai
import pytest
from harness import GatewayServer, config_dict
from poll import latest_sync

from fake_openai import FakeOpenAIServer, Fault


def post(gateway: GatewayServer, path: str, content: bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{gateway.base_url}{path}",
        content=content,
        headers={"Authorization": f"Bearer {gateway.token('alpha')}", **headers},
    )


def error_of(resp: httpx.Response) -> dict[str, object]:
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return dict(error)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"[1, 2, 3]", 400, "invalid_json"),
        (b"\xff\xfe\x00garbage", 400, "invalid_json"),
        (b'{"input": "no model"}', 400, "missing_required_parameter"),
        (b'{"model": 42, "input": "x"}', 400, "invalid_type"),
        (b'{"model": "gpt-5-nano", "stream": "yes"}', 400, "invalid_type"),
        (json.dumps({"model": "gpt-5-nano", "input": "x" * 70_000}).encode(), 413, "request_too_large"),
        (b"model=gpt-5-nano&input=x", 400, "invalid_json"),
        (b"[" * 5000 + b"]" * 5000, 400, "invalid_json"),
        (b'{"model": "gpt-5-nano", "metadata": ' + b'{"a": ' * 2000 + b"1" + b"}" * 2001, 400, "invalid_json"),
        (b'{"model": "gpt-5-nano", "input": "x", "max_output_tokens": -1}', 400, "invalid_value"),
        (b'{"model": "gpt-5-nano", "input": "x", "max_output_tokens": "10"}', 400, "invalid_value"),
        (b'{"model": "gpt-5-nano", "input": "x", "max_output_tokens": 1e400}', 400, "invalid_json"),
    ],
    ids=["broken", "array", "not-utf8", "no-model", "model-not-string", "stream-not-bool", "too-big",
         "form-encoded", "nested-arrays", "nested-objects", "negative-cap", "string-cap", "infinite-cap"],
)  # fmt: skip
def test_bad_requests(
    body: bytes, status: int, code: str, gateway: GatewayServer, fake: FakeOpenAIServer
) -> None:
    resp = post(gateway, "/responses", body)
    assert resp.status_code == status
    assert error_of(resp)["code"] == code
    assert fake.requests == []


def test_oversized_chunked_body_is_refused_without_content_length(gateway: GatewayServer) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"x" * 1024

    resp = httpx.post(
        f"{gateway.base_url}/chat/completions",
        content=chunks(),
        headers={"Authorization": f"Bearer {gateway.token('alpha')}"},
    )
    assert resp.status_code == 413


def test_unknown_endpoint_and_wrong_method(gateway: GatewayServer) -> None:
    auth = {"Authorization": f"Bearer {gateway.token('alpha')}"}
    missing = httpx.get(f"{gateway.base_url}/no/such/thing", headers=auth)
    assert missing.status_code == 404
    assert error_of(missing)["message"] == "Invalid URL (GET /v1/no/such/thing)"
    # As OpenAI answers: a served path with another method is an invalid URL too.
    wrong = httpx.put(f"{gateway.base_url}/chat/completions", headers=auth)
    assert wrong.status_code == 404
    assert error_of(wrong)["message"] == "Invalid URL (PUT /v1/chat/completions)"
    # The control plane's own routes keep HTTP's 405 with Allow.
    not_allowed = httpx.delete(f"{gateway.root}/healthz")
    assert not_allowed.status_code == 405
    assert error_of(not_allowed)["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/no/such/thing"), ("GET", "/v1/models"), ("POST", "/v1/responses")],
)
def test_an_answer_the_gateway_makes_itself_carries_its_id_both_ways(
    method: str, path: str, gateway: GatewayServer
) -> None:
    auth = {"Authorization": f"Bearer {gateway.token('alpha')}"}
    resp = httpx.request(method, gateway.root + path, headers=auth, json={})
    assert resp.headers["x-gateway-request-id"].startswith("req_")
    assert resp.headers["x-request-id"] == resp.headers["x-gateway-request-id"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "where",
    [lambda: f"http://127.0.0.1:{_closed_port()}/v1", lambda: "http://upstream.invalid/v1"],
    ids=["connection-refused", "dns-failure"],  # .invalid never resolves (RFC 2606)
)
def test_unreachable_upstream_is_502(where: Callable[[], str], db_url: str) -> None:
    with GatewayServer(config_dict(where()), database_url=db_url) as gw:
        client = openai.OpenAI(base_url=gw.base_url, api_key=gw.token("alpha"), max_retries=0)
        with pytest.raises(openai.InternalServerError) as err:
            client.responses.create(model="gpt-5-nano", input="hi")
    assert err.value.status_code == 502
    assert err.value.code == "upstream_unreachable"


def test_slow_upstream_is_504(alpha: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(path="/v1/responses", delay_s=3))  # read timeout is 2 s in tests
    with pytest.raises(openai.APIStatusError) as err:
        alpha.responses.create(model="gpt-5-nano", input="hi")
    assert err.value.status_code == 504
    assert err.value.code == "upstream_timeout"


def test_upstream_dropping_the_connection_is_502(
    alpha: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(path="/v1/chat/completions", drop_connection=True))
    with pytest.raises(openai.InternalServerError) as err:
        alpha.chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": "x"}])
    assert err.value.status_code == 502


def test_non_openai_error_body_is_wrapped(alpha: openai.OpenAI, fake: FakeOpenAIServer) -> None:
    fake.inject(Fault(path="/v1/responses", status=503, body=b"<html>Bad gateway</html>"))
    with pytest.raises(openai.InternalServerError) as err:
        alpha.responses.create(model="gpt-5-nano", input="hi")
    assert err.value.status_code == 502
    assert err.value.code == "upstream_bad_response"


def test_stream_dropped_midway_ends_with_an_error_event(
    alpha: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(path="/v1/responses", drop_after_events=4))
    seen: list[str] = []
    with pytest.raises(openai.APIError) as err:
        for event in alpha.responses.create(model="gpt-5-nano", input="a b c d e", stream=True):
            seen.append(event.type)
    assert seen[0] == "response.created"
    assert len(seen) == 4
    assert "upstream" in err.value.message


def test_chat_stream_dropped_midway_ends_with_an_error_chunk(
    alpha: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(path="/v1/chat/completions", drop_after_events=3))
    stream = alpha.chat.completions.create(
        model="gpt-4.1", messages=[{"role": "user", "content": "a b c d e"}], stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_stalled_stream_times_out_with_an_error_event(
    alpha: openai.OpenAI, fake: FakeOpenAIServer
) -> None:
    fake.inject(Fault(path="/v1/responses", stall_after_events=3))
    with pytest.raises(openai.APIError) as err:
        for _ in alpha.responses.create(model="gpt-5-nano", input="stall", stream=True):
            pass
    assert "timed out" in err.value.message


def leave_early(gateway: GatewayServer, path: str, body: dict[str, object]) -> bytes:
    """POST ``body``, read the answer's first bytes, then hang up."""
    with httpx.stream(
        "POST",
        f"{gateway.base_url}{path}",
        headers={"Authorization": f"Bearer {gateway.token('alpha')}"},
        json=body,
    ) as resp:
        assert resp.status_code == 200
        return next(resp.iter_bytes())


def access_lines(
    caplog: pytest.LogCaptureFixture, endpoint: str | None = None
) -> list[dict[str, object]]:
    """The access-log lines (of ``endpoint``), once there are any."""
    return latest_sync(
        lambda: [
            line
            for r in caplog.records
            if r.name == "gateway.access"
            for line in map(json.loads, r.getMessage().splitlines())
            if endpoint is None or line["endpoint"] == endpoint
        ],
        bool,
        10,
    )


def test_client_leaving_mid_stream_stops_the_relay(
    gateway: GatewayServer, fake: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake.inject(Fault(path="/v1/responses", stall_after_events=2))
    caplog.set_level(logging.INFO, logger="gateway.access")
    body: dict[str, object] = {"model": "gpt-5-nano", "input": "leave early", "stream": True}
    first = leave_early(gateway, "/responses", body)
    assert first.startswith(b"event: response.created")
    # The client is gone; the relay must notice, not wait out the stalled upstream.
    lines = access_lines(caplog)
    assert lines, "no access log line for the abandoned stream"
    assert lines[-1]["client_gone"] is True
    assert lines[-1]["error_code"] is None, "the relay waited for the upstream timeout"


def test_gateway_keeps_serving_after_all_of_that(alpha: openai.OpenAI) -> None:
    assert alpha.responses.create(model="gpt-5-nano", input="still ok").status == "completed"


def test_an_absurd_output_cap_is_clamped_to_the_tenants(
    gateway: GatewayServer, fake: FakeOpenAIServer
) -> None:
    body = b'{"model": "gpt-5-nano", "input": "x", "max_output_tokens": 1000000000000}'
    resp = post(gateway, "/responses", body)
    assert resp.status_code == 200
    sent = json.loads(fake.requests[-1].body)
    assert resp.headers["x-gateway-output-cap"].startswith("clamped")
    assert sent["max_output_tokens"] < 1_000_000


@pytest.mark.parametrize(
    "headers",
    [b"x-big: " + b"a" * (1 << 20) + b"\r\n", b"".join(b"x-h%d: v\r\n" % i for i in range(20_000))],
    ids=["one-huge-header", "many-headers"],
)
def test_huge_headers_get_431_and_the_connection_closed(
    headers: bytes, gateway: GatewayServer
) -> None:
    port = int(gateway.root.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /v1/responses HTTP/1.1\r\nhost: gw\r\n" + headers + b"\r\n")
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):  # the gateway closes: recv returns b""
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 ")
    assert json.loads(body)["error"]["code"] == "request_headers_too_large"


@pytest.mark.parametrize(
    "request_head",
    [b"content-length: u\r\n", b"content-length: 5\r\ncontent-length: 7\r\n", b"bad header\r\n"],
    ids=["non-numeric-length", "two-lengths", "no-colon"],
)
def test_requests_the_http_parser_rejects_get_openais_error_shape(
    request_head: bytes, gateway: GatewayServer
) -> None:
    port = int(gateway.root.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /v1/responses HTTP/1.1\r\nhost: gw\r\n" + request_head + b"\r\n{}")
        answer = b""
        while chunk := sock.recv(65536):  # the gateway closes: recv returns b""
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"content-type: application/json" in head
    assert json.loads(body)["error"]["code"] == "invalid_http_request"


def test_client_leaving_a_byte_answer_stops_the_relay(
    gateway: GatewayServer, fake: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake.inject(Fault(path="/v1/audio/speech", stall_after_events=0))
    caplog.set_level(logging.INFO, logger="gateway.access")
    body: dict[str, object] = {
        "model": "tts-1",
        "voice": "alloy",
        "input": "a sentence long enough to stream",
    }
    assert leave_early(gateway, "/audio/speech", body)  # half the audio, then the upstream stalls
    # The client is gone; the relay must notice, not wait out the stalled upstream.
    assert access_lines(caplog, "audio.speech")[-1]["client_gone"] is True
