"""The moderation pre-check through the official SDK: a call of its own (a ledger row,
endpoint moderations) before the main call is admitted; flagged categories refuse,
fail_open and fail_closed when it fails."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import openai
import pytest
from harness import (
    GatewayServer,
    ledger_row,
    ledger_rows,
    metric_value,
    sdk,
    tenants_gateway,
)
from poll import latest_sync

from fake_openai import FakeOpenAIServer, Fault

# The fake flags an input containing "kill" as violence and harassment/threatening.
FLAGGED = "I will kill the process"
TENANTS = {
    "guarded": {"moderation": {"categories": ["violence", "hate"]}},  # fail_closed by default
    "lenient": {"moderation": {"categories": ["hate"], "on_error": "fail_open"}},
    "strictest": {"moderation": {}},  # every category
    "unchecked": {},
    "one_rpm": {"limits": {"rpm": 1}, "moderation": {}},
}
MESSAGES: Any = [{"role": "system", "content": "be nice"}, {"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def gw(fake_server: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:  # fmt: skip
    with tenants_gateway(fake_server.base_url, tmp_path_factory, TENANTS, "moderation") as server:
        yield server


def paths(fake: FakeOpenAIServer) -> list[str]:
    return [r.path for r in fake.requests]


def checks(gw: GatewayServer, tenant: str, result: str) -> float:
    return metric_value(gw, "gateway_moderation_checks_total", tenant=tenant, result=result)


def test_a_clean_input_is_checked_first_as_a_metered_call_of_its_own(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    raw = sdk(gw, "guarded").responses.with_raw_response.create(
        model="gpt-5-nano", input=[{"role": "user", "content": [
            {"type": "input_text", "text": "hello"}, {"type": "input_text", "text": "there"}]}],
    )  # fmt: skip
    assert raw.parse().status == "completed"
    assert paths(fake) == ["/v1/moderations", "/v1/responses"]
    assert fake.requests[0].json() == {"model": "omni-moderation-latest", "input": "hello\nthere"}
    request_id = raw.headers["x-gateway-request-id"]
    row = ledger_row(gw.database_url, request_id=f"{request_id}.mod")
    assert (row["endpoint"], row["tenant"], row["cost_nanos"]) == ("moderations", "guarded", 0)
    assert row["requested_model"] == "omni-moderation-latest"
    assert ledger_row(gw.database_url, request_id=request_id)["endpoint"] == "responses"
    assert checks(gw, "guarded", "passed") >= 1


def test_a_listed_flagged_category_is_refused_before_admission(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    rows = len(ledger_rows(gw.database_url))
    before = checks(gw, "guarded", "flagged")
    with pytest.raises(openai.BadRequestError) as err:
        sdk(gw, "guarded").responses.create(model="gpt-5-nano", input=FLAGGED)
    assert (err.value.status_code, err.value.code) == (400, "content_flagged")
    body = err.value.body
    assert isinstance(body, dict)
    assert body["param"] == "input"
    assert "violence" in body["message"]
    assert "harassment" not in body["message"]  # flagged, but not a category it lists
    assert paths(fake) == ["/v1/moderations"]  # the main call never went upstream
    after = ledger_rows(gw.database_url, at_least=rows + 1)
    assert [r["endpoint"] for r in after[rows:]] == ["moderations"]  # only the check's row
    assert checks(gw, "guarded", "flagged") == before + 1


def test_chat_messages_are_checked_too(gw: GatewayServer, fake: FakeOpenAIServer) -> None:
    client = sdk(gw, "strictest")
    client.chat.completions.create(model="gpt-5-nano", messages=MESSAGES)
    assert fake.requests[0].json()["input"] == "be nice\nhello"
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="gpt-5-nano", messages=[{"role": "user", "content": FLAGGED}]
        )
    assert err.value.code == "content_flagged"
    body = err.value.body
    assert isinstance(body, dict)
    assert body["param"] == "messages"
    assert "harassment/threatening" in body["message"]
    assert paths(fake) == ["/v1/moderations", "/v1/chat/completions", "/v1/moderations"]


def test_a_flagged_category_the_tenant_does_not_list_passes(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    sdk(gw, "lenient").responses.create(model="gpt-5-nano", input=FLAGGED)
    assert paths(fake) == ["/v1/moderations", "/v1/responses"]


def test_fail_closed_answers_503_when_the_check_fails(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    before = checks(gw, "guarded", "failed_closed")
    fake.inject(Fault(path="/v1/moderations", status=500))
    with pytest.raises(openai.InternalServerError) as err:
        sdk(gw, "guarded").responses.create(model="gpt-5-nano", input="hello")
    assert (err.value.status_code, err.value.code) == (503, "moderation_unavailable")
    assert paths(fake) == ["/v1/moderations"]
    assert checks(gw, "guarded", "failed_closed") == before + 1


def test_fail_open_admits_the_call_when_the_check_fails(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    before = checks(gw, "lenient", "failed_open")
    fake.inject(Fault(path="/v1/moderations", status=500))
    raw = sdk(gw, "lenient").responses.with_raw_response.create(model="gpt-5-nano", input="hi")
    assert raw.parse().status == "completed"
    assert paths(fake) == ["/v1/moderations", "/v1/responses"]
    assert checks(gw, "lenient", "failed_open") == before + 1
    request_id = raw.headers["x-gateway-request-id"]
    row = ledger_row(gw.database_url, request_id=f"{request_id}.mod")  # the failed check's
    assert row["status"] == 500


def test_a_tenant_without_moderation_is_not_checked(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    sdk(gw, "unchecked").responses.create(model="gpt-5-nano", input=FLAGGED)
    assert paths(fake) == ["/v1/responses"]


def test_the_check_takes_none_of_the_tenants_requests_per_minute(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    client = sdk(gw, "one_rpm")
    client.responses.create(model="gpt-5-nano", input="hello")  # the check and the call
    assert paths(fake) == ["/v1/moderations", "/v1/responses"]
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model="gpt-5-nano", input="hello")  # the client's second


def test_a_realtime_sessions_items_are_checked_and_a_flagged_one_is_not_sent(
    gw: GatewayServer, fake: FakeOpenAIServer
) -> None:
    def item(text: str) -> Any:
        return {"type": "message", "role": "user",
                "content": [{"type": "input_text", "text": text}]}  # fmt: skip

    async def scenario() -> list[Any]:
        api = openai.AsyncOpenAI(base_url=gw.base_url, api_key=gw.token("guarded"), max_retries=0)
        async with api.realtime.connect(model="gpt-realtime") as conn:
            await anext(aiter(conn))  # session.created
            await conn.conversation.item.create(item=item(FLAGGED), event_id="evt_bad")
            await conn.conversation.item.create(item=item("hello"), event_id="evt_ok")
            seen = []
            async for event in conn:
                seen.append(event)
                if event.type == "conversation.item.added":
                    return seen
        raise AssertionError("the socket closed first")

    started = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")  # as SQLite keeps it
    seen = asyncio.run(asyncio.wait_for(scenario(), 20))
    errors = [e for e in seen if e.type == "error"]
    assert [(e.error.code, e.error.event_id) for e in errors] == [("content_flagged", "evt_bad")]
    sent = [e for _, e in fake.realtime_events if e.get("type") == "conversation.item.create"]
    assert [e["item"]["content"][0]["text"] for e in sent] == ["hello"]
    assert paths(fake).count("/v1/moderations") == 2
    rows = latest_sync(lambda: moderation_rows(gw, started), lambda r: len(r) >= 2)
    assert len(rows) == 2, "each check is a metered call of its own"


def moderation_rows(gw: GatewayServer, since: str) -> list[dict[str, object]]:
    return [
        r
        for r in ledger_rows(gw.database_url)
        if r["endpoint"] == "moderations" and str(r["ts"]) >= since and r["tenant"] == "guarded"
    ]
