"""One notification on the wire: bodies, signature, retries with backoff (`delivery`, `payload`)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging

import orjson
import pytest
from alerts.fakes import DAY_END, REFUSED, SECRET, USD, Clock, Poster, runtime

from gateway.alerts.delivery import Backoff, deliver
from gateway.alerts.events import AlertEvent
from gateway.alerts.payload import body_of
from gateway.config.alerts import Webhook

EVENT = AlertEvent(
    "threshold", "acme", "service:search", "day", DAY_END.isoformat(), DAY_END,
    threshold=80, limit_nanos=10 * USD, spent_nanos=8_123_456_789,
)  # fmt: skip
BACKOFF = Backoff(attempts=4, base_s=1, max_s=3)
HOOK = runtime().webhooks["hook"]
SLACK = Webhook("chat", "https://hooks.slack.test/services/T0/B0/XyZsecret", "slack", None, 5)


def send(poster: Poster, clock: Clock, *, webhook: Webhook = HOOK, deadline: float = 1e12) -> bool:
    return asyncio.run(
        deliver(poster, webhook, EVENT, BACKOFF, deadline=deadline, clock=clock, sleep=clock.sleep)
    )


def test_the_json_body_is_the_event_in_usd_and_signed_over_timestamp_and_body() -> None:
    clock, poster = Clock(), Poster()
    assert send(poster, clock)
    (post,) = poster.posts
    assert post.url == "http://hooks.test/in?token=q"
    assert orjson.loads(post.body) == {
        "id": EVENT.id,
        "kind": "threshold",
        "tenant": "acme",
        "scope": {"kind": "service", "name": "search"},
        "window": "day",
        "window_key": DAY_END.isoformat(),
        "threshold_percent": 80,
        "limit_usd": 10.0,
        "spent_usd": 8.123456789,
        "resets_at": "2026-12-06T00:00:00Z",
        "projected_exhaustion_at": None,
        "within_days": None,
        "anomaly_score": None,
    }
    # The receiver's recipe (gateway.alerts.payload): HMAC-SHA256 of "<timestamp>.<body>".
    timestamp = post.headers["X-Gateway-Alert-Timestamp"]
    assert timestamp == str(int(clock.now))
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + post.body, hashlib.sha256)
    assert post.headers["X-Gateway-Alert-Signature"] == "v1=" + expected.hexdigest()
    assert post.headers["X-Gateway-Alert-Id"] == EVENT.id
    assert post.headers["Content-Type"] == "application/json"


def test_a_slack_webhook_gets_text_and_no_signature() -> None:
    poster = Poster()
    assert send(poster, Clock(), webhook=SLACK)
    (post,) = poster.posts
    body = orjson.loads(post.body)
    assert list(body) == ["text"]
    assert "*acme* service *search* has spent $8.12 of its $10.00 daily budget" in body["text"]
    assert "80% threshold" in body["text"]
    assert EVENT.id[:12] in body["text"]
    assert "X-Gateway-Alert-Signature" not in post.headers
    assert post.headers["X-Gateway-Alert-Id"] == EVENT.id


def test_failures_are_retried_with_exponential_backoff_and_the_same_body() -> None:
    clock, poster = Clock(), Poster(503, REFUSED, 429)
    assert send(poster, clock)
    assert clock.slept == [1, 2, 3]  # doubling, capped at max_s
    assert len({p.body for p in poster.posts}) == 1
    assert len(poster.posts) == 4
    stamps = [p.headers["X-Gateway-Alert-Timestamp"] for p in poster.posts]
    assert stamps == sorted(stamps)
    assert stamps[0] != stamps[-1]


def test_it_gives_up_after_the_last_attempt() -> None:
    clock, poster = Clock(), Poster(500, 500, 500, 500, 200)
    assert not send(poster, clock)
    assert len(poster.posts) == 4
    assert clock.slept == [1, 2, 3]


def test_a_client_error_is_not_retried() -> None:
    clock, poster = Clock(), Poster(404)
    assert not send(poster, clock)
    assert len(poster.posts) == 1
    assert clock.slept == []


def test_no_attempt_starts_that_could_end_after_the_lease() -> None:
    clock, poster = Clock(), Poster(500, 500, 500)
    # After the first failure: 1 s wait + 5 s timeout fits in 7 s; after the second, 2 + 5 does not.
    assert not send(poster, clock, deadline=clock.now + 7)
    assert len(poster.posts) == 2
    assert clock.slept == [1]


def test_logs_name_the_webhook_and_host_never_its_path_or_query(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    assert not send(Poster(400), Clock(), webhook=SLACK)
    assert not send(Poster(400), Clock())
    text = caplog.text
    assert "chat (https://hooks.slack.test)" in text
    assert "hook (http://hooks.test)" in text
    assert "XyZsecret" not in text
    assert "token=q" not in text
    assert "/in" not in text


def test_the_body_is_the_same_from_every_replica() -> None:
    assert body_of(EVENT, HOOK) == body_of(EVENT, HOOK)
