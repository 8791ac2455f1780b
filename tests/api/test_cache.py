"""The per-tenant response cache end to end through the official SDK: a repeated request is
answered without reaching the upstream (JSON and replayed streams), is a $0 `cache_hit` ledger
row, needs the tenant's opt-in, skips what must not be replayed, never crosses tenants, expires
on the cache's clock, and works the same over Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from harness import (
    PRICING,
    GatewayServer,
    config_dict,
    env_for_tests,
    ledger_row,
    metric_value,
    sdk,
    tenants_gateway,
    to_yaml,
)
from openai.types.chat import ChatCompletionMessageParam
from redis_server import RedisServer

from fake_openai import FakeOpenAIServer, Fault
from gateway.config import compile_config, parse_config
from gateway.pricing import load_pricing

ON = {"mode": "on", "ttl_s": 60}
TENANTS: dict[str, dict[str, Any]] = {
    "cached": {"models": ["*"], "store": False, "cache": ON},  # Responses go store:false
    "twin": {"models": ["*"], "store": False, "cache": ON},  # the same policy, another tenant
    "optin": {"models": ["*"], "store": False, "cache": {"mode": "opt_in"}},
    "stores": {"models": ["*"], "cache": ON},  # leaves `store` to its clients
    "small": {"models": ["*"], "store": False, "cache": {"mode": "on", "max_entry_bytes": 64}},
}
USE = {"x-gateway-cache": "Use"}  # any case


@pytest.fixture(scope="module")
def gw(fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:  # fmt: skip
    with tenants_gateway(fake_server.base_url, tmp_path_factory, TENANTS, "cache") as server:
        yield server


def upstream_calls(fake: FakeOpenAIServer) -> int:
    return sum(r.path in ("/v1/responses", "/v1/chat/completions") for r in fake.requests)


def miss_row_model(gw: GatewayServer, request_id: str) -> object:
    return ledger_row(gw.database_url, request_id=request_id)["served_model"]


def test_a_repeated_json_request_is_answered_from_the_cache_as_a_zero_cost_row(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    client = sdk(gw, "cached")
    first = client.responses.with_raw_response.create(model="gpt-5-nano", input="json hit")
    second = client.responses.with_raw_response.create(model="gpt-5-nano", input="json hit")
    assert first.headers["x-gateway-cache"] == "miss"
    assert second.headers["x-gateway-cache"] == "hit"
    assert second.headers["x-gateway-attempts"] == "0"
    assert second.headers["x-request-id"] == second.headers["x-gateway-request-id"]
    assert second.headers["x-gateway-model"] == first.headers["x-gateway-model"]
    assert upstream_calls(fake) == 1
    assert second.parse().model_dump() == first.parse().model_dump()
    assert second.parse().output_text == first.parse().output_text != ""
    hit = ledger_row(gw.database_url, request_id=second.headers["x-gateway-request-id"])
    assert (hit["outcome"], hit["cost_nanos"], hit["status"]) == ("cache_hit", 0, 200)
    assert (hit["input_tokens"], hit["output_tokens"], hit["tenant"]) == (0, 0, "cached")
    assert (hit["unpriced"], hit["estimated"], hit["response_id"]) == (False, False, None)
    assert hit["served_model"] == miss_row_model(gw, first.headers["x-gateway-request-id"])
    miss = ledger_row(gw.database_url, request_id=first.headers["x-gateway-request-id"])
    assert miss["outcome"] == "completed"
    assert int(str(miss["cost_nanos"])) > 0
    assert metric_value(gw, "gateway_cache_requests_total", tenant="cached", result="hit") >= 1
    assert metric_value(gw, "gateway_cache_stored_bytes_total", tenant="cached") > 0
    assert metric_value(gw, "gateway_cache_bytes") > 0


def test_a_stream_is_replayed_event_for_event_to_the_sdk_parser(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    client = sdk(gw, "cached")
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "stream hit"}]

    def streamed() -> tuple[str, list[str]]:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4.1",
            messages=messages,
            stream=True,
        )
        chunks = list(raw.parse())
        text = [c.choices[0].delta.content or "" for c in chunks if c.choices]
        return raw.headers["x-gateway-cache"], text

    miss, first = streamed()
    hit, second = streamed()
    assert (miss, hit) == ("miss", "hit")
    assert second == first
    assert "".join(first)
    assert upstream_calls(fake) == 1

    events = []
    for _ in range(2):
        with client.responses.stream(model="gpt-5-nano", input="responses stream") as stream:
            events.append([e.type for e in stream])
            final = stream.get_final_response()
    assert events[0] == events[1]
    assert events[0][-1] == "response.completed"
    assert final.output_text
    assert upstream_calls(fake) == 2


def test_opt_in_caches_only_requests_that_ask_and_on_lets_a_request_skip(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    optin = sdk(gw, "optin")
    plain = [optin.responses.with_raw_response.create(model="gpt-5-nano", input="o") for _ in "ab"]
    assert all("x-gateway-cache" not in r.headers for r in plain)
    assert upstream_calls(fake) == 2
    asked = [
        optin.responses.with_raw_response.create(model="gpt-5-nano", input="o", extra_headers=USE)
        for _ in "ab"
    ]
    assert [r.headers["x-gateway-cache"] for r in asked] == ["miss", "hit"]
    assert upstream_calls(fake) == 3
    skip = {"x-gateway-cache": "skip"}
    cached = sdk(gw, "cached")
    for _ in "ab":
        r = cached.responses.with_raw_response.create(
            model="gpt-5-nano", input="s", extra_headers=skip
        )
        assert "x-gateway-cache" not in r.headers
    assert upstream_calls(fake) == 5


def test_what_must_not_be_replayed_always_goes_upstream(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    client = sdk(gw, "stores")
    calls: list[Callable[[], Any]] = [
        lambda: client.responses.with_raw_response.create(model="gpt-5-nano", input="x"),
        lambda: client.responses.with_raw_response.create(
            model="gpt-5-nano", input="x", store=True
        ),
        lambda: client.chat.completions.with_raw_response.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "x"}], store=True
        ),
        lambda: client.responses.with_raw_response.create(
            model="gpt-5-nano", input="x", store=False, tools=[{"type": "web_search"}]
        ),
    ]
    for call in calls:
        for _ in "ab":
            assert "x-gateway-cache" not in call().headers
    assert upstream_calls(fake) == 8
    cached = sdk(gw, "cached")  # forces store:false, but a background response runs on upstream
    for _ in "ab":
        r = cached.responses.with_raw_response.create(
            model="gpt-5-nano", input="x", background=True
        )
        assert "x-gateway-cache" not in r.headers
    assert upstream_calls(fake) == 10
    # Chat stores nothing unless asked, so the same tenant's chat call is cached.
    for expected in ("miss", "hit"):
        chat = client.chat.completions.with_raw_response.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "x"}]
        )
        assert chat.headers["x-gateway-cache"] == expected
    assert upstream_calls(fake) == 11


def test_one_tenant_never_gets_another_tenants_cached_answer(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    first = sdk(gw, "cached").responses.with_raw_response.create(model="gpt-5-nano", input="mine")
    other = sdk(gw, "twin").responses.with_raw_response.create(model="gpt-5-nano", input="mine")
    again = sdk(gw, "twin").responses.with_raw_response.create(model="gpt-5-nano", input="mine")
    assert [r.headers["x-gateway-cache"] for r in (first, other, again)] == ["miss", "miss", "hit"]
    assert upstream_calls(fake) == 2
    assert other.parse().id != first.parse().id  # twin's own answer, not cached's


def test_failed_cut_and_oversized_answers_are_not_kept(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    client = sdk(gw, "cached")
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "cut"}]
    fake.inject(Fault(path="/v1/chat/completions", drop_after_events=2))
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(model="gpt-4.1", messages=messages, stream=True))
    fake.inject(Fault(path="/v1/responses", status=500))
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model="gpt-5-nano", input="fails")
    again = client.chat.completions.with_raw_response.create(
        model="gpt-4.1",
        messages=messages,
        stream=True,
    )
    assert again.headers["x-gateway-cache"] == "miss"
    list(again.parse())
    retried = client.responses.with_raw_response.create(model="gpt-5-nano", input="fails")
    assert retried.headers["x-gateway-cache"] == "miss"
    small = sdk(gw, "small")
    for _ in "ab":
        r = small.responses.with_raw_response.create(model="gpt-5-nano", input="too big to keep")
        assert r.headers["x-gateway-cache"] == "miss"
    assert upstream_calls(fake) == 6


def test_a_request_the_policy_now_refuses_is_refused_though_its_answer_is_cached(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    client = sdk(gw, "cached")
    for expected in ("miss", "hit"):
        r = client.responses.with_raw_response.create(
            model="gpt-5-nano", input="tier", service_tier="default"
        )
        assert r.headers["x-gateway-cache"] == expected
    services, before = gw.app.services, gw.app.services.config
    tenants = {**TENANTS, "cached": {**TENANTS["cached"], "service_tiers": ["flex"]}}
    config = config_dict(fake.base_url, tenants=tenants)
    services.config = compile_config(
        parse_config(to_yaml(config), "t.yaml"), env_for_tests(), pricing=load_pricing(PRICING)
    )  # as a reload does
    try:
        with pytest.raises(openai.PermissionDeniedError) as refused:
            client.responses.create(model="gpt-5-nano", input="tier", service_tier="default")
        assert refused.value.code == "service_tier_not_allowed"
    finally:
        services.config = before
    assert upstream_calls(fake) == 1


def test_an_entry_expires_after_its_ttl_on_the_caches_clock(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    cache = gw.app.services.cache
    now, own_clock = [1_000_000.0], cache.clock
    cache.clock = lambda: now[0]
    try:
        client = sdk(gw, "cached")
        seen = []
        for advance in (0, 59, 2):  # ttl_s is 60: kept at +59 s, gone at +61 s
            now[0] += advance
            r = client.responses.with_raw_response.create(model="gpt-5-nano", input="ttl")
            seen.append(r.headers["x-gateway-cache"])
        assert seen == ["miss", "hit", "miss"]
        assert upstream_calls(fake) == 2
    finally:
        cache.clock = own_clock


def test_a_redis_backed_cache_answers_hits_and_keys_them_by_tenant(
    fake: FakeOpenAIServer, redis: RedisServer, tmp_path: pytest.TempPathFactory
) -> None:
    import redis as redis_py

    config = config_dict(fake.base_url, tenants=TENANTS)
    db = f"sqlite:///{tmp_path}/gateway.db"
    with GatewayServer(config, database_url=db, redis_url=redis.url) as server:
        client = sdk(server, "cached")
        got = [
            client.responses.with_raw_response.create(model="gpt-5-nano", input="redis")
            for _ in "ab"
        ]
        assert [r.headers["x-gateway-cache"] for r in got] == ["miss", "hit"]
        assert got[1].parse().output_text == got[0].parse().output_text
        twin = sdk(server, "twin").responses.with_raw_response.create(
            model="gpt-5-nano", input="redis"
        )
        assert twin.headers["x-gateway-cache"] == "miss"
        assert upstream_calls(fake) == 2
        assert metric_value(server, "gateway_cache_bytes") == 0  # nothing held in memory
    found = redis_py.Redis(port=redis.port, decode_responses=True).keys("gw:cache:*")
    keys = [k if isinstance(k, str) else k.decode() for k in found]
    assert sorted(k.rpartition(":")[0] for k in keys) == [
        "gw:cache:{cached}",
        "gw:cache:{twin}",
    ]
    ttl = redis_py.Redis(port=redis.port).ttl(keys[0])
    assert 0 < ttl <= 60


def test_identical_misses_at_once_make_one_upstream_call(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from poll import eventually_sync

    fake.inject(Fault(path="/v1/responses", delay_s=1.5))  # in flight a while (timeout: 2 s)
    client = sdk(gw, "cached")
    ask = lambda: client.responses.with_raw_response.create(  # noqa: E731
        model="gpt-5-nano", input="all at once"
    )
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(ask)
        eventually_sync(lambda: upstream_calls(fake) == 1)  # it reached the upstream
        twins = [pool.submit(ask) for _ in range(3)]
        answers = [first.result(), *(t.result() for t in twins)]
    assert upstream_calls(fake) == 1, "the twins waited for the first call"
    assert [a.headers["x-gateway-cache"] for a in answers] == ["miss", "hit", "hit", "hit"]
    assert len({a.parse().output_text for a in answers}) == 1
    assert metric_value(gw, "gateway_cache_requests_total", tenant="cached",
                        result="coalesced") == 3  # fmt: skip
    rows = [ledger_row(gw.database_url, request_id=a.headers["x-gateway-request-id"])
            for a in answers]  # fmt: skip
    assert [r["outcome"] for r in rows] == ["completed", "cache_hit", "cache_hit", "cache_hit"]


def test_identical_streams_at_once_do_not_wait_for_each_other(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from poll import eventually_sync

    fake.inject(Fault(path="/v1/responses", delay_s=1.0))
    client = sdk(gw, "cached")

    def ask() -> str:
        with client.responses.stream(model="gpt-5-nano", input="streams at once") as stream:
            return stream.get_final_response().output_text

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(ask)
        eventually_sync(lambda: upstream_calls(fake) == 1)
        second = pool.submit(ask)
        assert second.result() == first.result()
    assert upstream_calls(fake) == 2, "a stream is served at once, not after its twin"
