"""Header hygiene and upstream-error rewriting, as pure functions."""

from __future__ import annotations

import json

from gateway.upstream.errors import client_error_from_upstream
from gateway.upstream.headers import client_response_headers, upstream_request_headers


def test_request_headers_drop_credentials_and_hop_by_hop() -> None:
    out = upstream_request_headers(
        [
            (b"authorization", b"Bearer client-jwt"),
            (b"openai-organization", b"org-x"),
            (b"OpenAI-Project", b"proj-x"),
            (b"host", b"gateway.internal"),
            (b"content-length", b"12"),
            (b"connection", b"keep-alive, x-private"),
            (b"x-private", b"1"),
            (b"proxy-authorization", b"Basic abc"),
            (b"x-gateway-route", b"extract"),  # the gateway's own headers stay here
            (b"X-Gateway-Tags", b"feature=search"),
            (b"content-type", b"application/json"),
            (b"x-stainless-lang", b"python"),
            (b"traceparent", b"00-abc-def-01"),
        ],
        "sk-upstream",
    )
    assert out == {
        "authorization": "Bearer sk-upstream",
        "content-type": "application/json",
        "x-stainless-lang": "python",
        "traceparent": "00-abc-def-01",
    }


def test_response_headers_pass_an_allow_list_only() -> None:
    out = dict(
        client_response_headers(
            {
                "Content-Type": "application/json",
                "openai-organization": "acme-corp",
                "openai-processing-ms": "12",
                "x-ratelimit-remaining-requests": "10",
                "x-request-id": "req_up",
                "retry-after": "2",
                "set-cookie": "__cf_bm=1",
            }
        )
    )
    assert out == {
        b"content-type": b"application/json",
        b"openai-processing-ms": b"12",
        b"x-request-id": b"req_up",
        b"retry-after": b"2",
    }


def test_the_upstreams_rate_limits_pass_only_when_asked() -> None:
    upstream = {"x-ratelimit-remaining-requests": "10", "X-RateLimit-Limit-Tokens": "9"}
    assert client_response_headers(upstream) == []
    assert dict(client_response_headers(upstream, rate_limits=True)) == {
        b"x-ratelimit-remaining-requests": b"10",
        b"x-ratelimit-limit-tokens": b"9",
    }


def test_openai_errors_pass_through_with_their_status() -> None:
    body = json.dumps({"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded", "param": None}}).encode()  # fmt: skip
    assert client_error_from_upstream(429, body, "sk-k", "openai") == (429, body)


def test_upstream_401_becomes_502_without_any_key_material() -> None:
    body = b'{"error": {"message": "Incorrect API key provided: sk-abc*****wxyz", "code": "invalid_api_key"}}'
    status, out = client_error_from_upstream(401, body, "sk-abcdefwxyz", "openai")
    assert status == 502
    assert b"wxyz" not in out
    assert json.loads(out)["error"]["code"] == "upstream_auth_failed"


def test_non_openai_bodies_are_wrapped() -> None:
    status, out = client_error_from_upstream(503, b"<html>oops</html>", None, "openai")
    assert status == 502
    assert json.loads(out)["error"]["code"] == "upstream_bad_response"


def test_a_full_key_in_an_error_body_is_redacted() -> None:
    body = b'{"error": {"message": "key sk-secret-123 is not allowed", "code": null}}'
    status, out = client_error_from_upstream(403, body, "sk-secret-123", "openai")
    assert status == 403
    assert b"sk-secret-123" not in out
