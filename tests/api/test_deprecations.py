"""Deprecated models through the official SDK: Deprecation/Sunset/Link headers (RFC 9745,
RFC 8594) on every endpoint family, a rewrite served by the replacement (and metered as
it), a refusal naming the replacement, the per-service metric, and the retired Assistants
API's own error. The gateway judges dates on a pinned day (`day.pinned_day`): the
outcomes hold on any real date, and a test moves the day across a `from` date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from email.utils import parsedate_to_datetime

import httpx
import openai
import pytest
from day import Day, pinned_day
from harness import GatewayServer, config_dict, ledger_row, merged, metric_value

from fake_openai import FakeOpenAIServer
from gateway.auth import mint_token

LINK = "https://example.com/deprecations"
DAY = dt.date(2026, 12, 5)  # the day the gateway judges on (see `day`)
DEPRECATIONS = {
    "gpt-4.1": {  # warns: served as asked
        "sunset": "2027-01-14",
        "announced": "2026-06-11",
        "replacement": "gpt-5-mini",
        "link": LINK,
        "source": "a test",
    },
    "small": {"sunset": "2026-10-23", "replacement": "gpt-5-mini", "action": "rewrite"},
    "text-embedding-3-small": {
        "sunset": "2026-10-23",
        "replacement": "text-embedding-3-large",
        "action": "refuse",
        "from": "2026-01-01",
        "link": LINK,
    },
    "tts-1": {"sunset": "2027-02-01", "action": "refuse", "from": "2027-01-01"},  # warns till then
    "gpt-realtime": {"sunset": "2026-10-23", "action": "refuse", "replacement": "gpt-realtime-2"},
}
ROUTES = {"legacy": {"ladder": ["small", "gpt-5-nano"]}}
TENANTS = {"team": {"models": ["*"], "services": {"known": {"web": {}, "batch": {}}}}}


@pytest.fixture(scope="module")
def day() -> Iterator[Day]:
    with pinned_day(DAY) as clock:
        yield clock


@pytest.fixture(scope="module")
def gw(fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory, day: Day) -> Iterator[GatewayServer]:  # fmt: skip
    db = tmp_path_factory.mktemp("deprecations") / "gateway.db"
    config = merged(
        config_dict(fake_server.base_url, tenants=TENANTS),
        {"deprecations": DEPRECATIONS, "routes": ROUTES},
    )
    with GatewayServer(config, database_url=f"sqlite:///{db}") as server:
        yield server


def sdk(gw: GatewayServer, service: str = "web") -> openai.OpenAI:
    assert gw.runtime.hs_secret is not None
    token = mint_token(
        gw.runtime.auth, gw.runtime.hs_secret, "team", admin=False, ttl_s=600, subject=service
    )
    return openai.OpenAI(base_url=gw.base_url, api_key=token, max_retries=0, timeout=10)


def calls(gw: GatewayServer, model: str, action: str, service: str = "web") -> float:
    return metric_value(
        gw, "gateway_deprecated_model_calls_total",
        tenant="team", service=service, model=model, action=action,
    )  # fmt: skip


def links(value: str) -> dict[str, str]:
    """``<url>; rel="x", <url>; rel="y"`` as {rel: url}."""
    out = {}
    for part in value.split(", <"):
        target, *params = part.split(";")
        rel = next(p.split("=", 1)[1].strip('"') for p in params if p.strip().startswith("rel="))
        out[rel] = target.strip().strip("<>")
    return out


def test_a_deprecated_model_is_served_with_well_formed_deprecation_headers(
    gw: GatewayServer,
) -> None:
    before = calls(gw, "gpt-4.1", "warn")
    raw = sdk(gw).responses.with_raw_response.create(model="gpt-4.1", input="hi")
    assert raw.parse().model == "gpt-4.1"
    # RFC 9745: an sf-date, "@" and the unix seconds of the deprecation.
    deprecation = raw.headers["deprecation"]
    assert deprecation.startswith("@")
    assert dt.datetime.fromtimestamp(int(deprecation[1:]), dt.UTC) == dt.datetime(
        2026, 6, 11, tzinfo=dt.UTC
    )
    # RFC 8594: an HTTP-date (IMF-fixdate, GMT).
    sunset = raw.headers["sunset"]
    assert sunset == "Thu, 14 Jan 2027 00:00:00 GMT"
    assert parsedate_to_datetime(sunset) == dt.datetime(2027, 1, 14, tzinfo=dt.UTC)
    assert links(raw.headers["link"]) == {"deprecation": LINK, "sunset": LINK}
    assert "x-gateway-rewritten-from" not in raw.headers
    assert calls(gw, "gpt-4.1", "warn") == before + 1


def test_a_model_that_is_not_deprecated_gets_no_deprecation_headers(gw: GatewayServer) -> None:
    raw = sdk(gw).responses.with_raw_response.create(model="gpt-5-nano", input="hi")
    assert not {"deprecation", "sunset", "link"} & set(raw.headers.keys())


def test_rewrite_serves_the_replacement_and_the_ledger_says_so(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    raw = sdk(gw, "batch").chat.completions.with_raw_response.create(
        model="small", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-gateway-rewritten-from"] == "small"
    assert raw.headers["x-gateway-model"] == "gpt-5-mini"
    assert raw.parse().model == "gpt-5-mini"
    assert fake.requests[-1].json()["model"] == "gpt-5-mini"
    assert raw.headers["sunset"] == "Fri, 23 Oct 2026 00:00:00 GMT"
    assert "link" not in raw.headers  # the entry has none
    row = ledger_row(gw.database_url, request_id=raw.headers["x-gateway-request-id"])
    # The ledger's requested_model is the configured model the attempt asked upstream.
    assert (row["requested_model"], row["served_model"]) == ("gpt-5-mini", "gpt-5-mini")
    assert calls(gw, "small", "rewrite", service="batch") >= 1


def test_a_deprecated_rung_of_a_route_is_rewritten_and_announced(gw: GatewayServer) -> None:
    raw = sdk(gw).responses.with_raw_response.create(model="legacy", input="hi")
    assert raw.headers["x-gateway-route"] == "legacy"
    assert raw.headers["x-gateway-model"] == "gpt-5-mini"
    assert raw.headers["x-gateway-rewritten-from"] == "small"
    assert raw.headers["deprecation"].startswith("@")


def test_refuse_answers_openais_404_for_a_retired_model_naming_the_replacement(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    before, sent = calls(gw, "text-embedding-3-small", "refuse"), len(fake.requests)
    with pytest.raises(openai.NotFoundError) as err:
        sdk(gw).embeddings.create(model="text-embedding-3-small", input="hi")
    assert err.value.status_code == 404
    assert err.value.code == "model_not_found"
    assert err.value.param == "model"
    assert "`text-embedding-3-large`" in err.value.message
    assert LINK in err.value.message
    assert err.value.response.headers["sunset"] == "Fri, 23 Oct 2026 00:00:00 GMT"
    assert len(fake.requests) == sent  # never sent upstream
    assert calls(gw, "text-embedding-3-small", "refuse") == before + 1


def test_before_its_from_date_an_action_only_warns(gw: GatewayServer) -> None:
    raw = sdk(gw).audio.speech.with_raw_response.create(model="tts-1", voice="alloy", input="hi")
    assert raw.headers["sunset"] == "Mon, 01 Feb 2027 00:00:00 GMT"
    # Neither `announced` nor (past) `from`: the deprecation date is `from`.
    deprecated = dt.datetime.fromtimestamp(int(raw.headers["deprecation"][1:]), dt.UTC)
    assert deprecated == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert calls(gw, "tts-1", "warn") >= 1


def test_from_its_from_date_the_action_holds(gw: GatewayServer, day: Day) -> None:
    speech = sdk(gw).audio.speech
    before = calls(gw, "tts-1", "refuse")
    day.day = dt.date(2027, 1, 1)
    try:
        with pytest.raises(openai.NotFoundError) as err:
            speech.create(model="tts-1", voice="alloy", input="hi")
    finally:
        day.day = DAY
    assert err.value.code == "model_not_found"
    assert calls(gw, "tts-1", "refuse") == before + 1
    speech.create(model="tts-1", voice="alloy", input="hi")  # the day before: served again


def test_a_realtime_session_with_a_refused_model_is_refused_and_counted(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    before, sent = calls(gw, "gpt-realtime", "refuse"), len(fake.requests)
    answer = httpx.post(
        f"{gw.base_url}/realtime/client_secrets",
        headers={"authorization": f"Bearer {sdk(gw).api_key}"},
        json={"session": {"type": "realtime", "model": "gpt-realtime"}},
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "model_not_found"
    assert "`gpt-realtime-2`" in answer.json()["error"]["message"]
    assert len(fake.requests) == sent
    assert calls(gw, "gpt-realtime", "refuse") == before + 1


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/assistants"), ("GET", "/v1/threads/thread_abc/messages"),
     ("POST", "/v1/threads/runs")],
)  # fmt: skip
def test_the_retired_assistants_api_points_to_the_responses_api(
    gw: GatewayServer, method: str, path: str
) -> None:
    answer = httpx.request(
        method, gw.base_url.removesuffix("/v1") + path,
        headers={"authorization": f"Bearer {sdk(gw).api_key}"}, json={},
    )  # fmt: skip
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["code"] == "assistants_api_retired"
    assert error["type"] == "invalid_request_error"
    assert "Responses API" in error["message"]
    assert "https://platform.openai.com/docs/assistants/migration" in error["message"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK's own, on beta.assistants
def test_the_sdks_assistants_calls_raise_not_found_with_the_pointer(gw: GatewayServer) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        sdk(gw).beta.assistants.create(model="gpt-5-nano")
    assert err.value.code == "assistants_api_retired"


def test_a_path_beside_the_assistants_api_is_still_an_invalid_url(gw: GatewayServer) -> None:
    answer = httpx.post(gw.base_url + "/assistantsx", json={})
    assert answer.status_code == 404
    assert answer.json()["error"]["message"] == "Invalid URL (POST /v1/assistantsx)"
