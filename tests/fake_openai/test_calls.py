"""WebRTC calls: SDP and multipart offers, the sideband, ``call_respond``, accept, reject and
hang-up.
"""

from __future__ import annotations

import openai
import pytest
from fake_clients import API_KEY, MODEL, audio_tokens, recv, recv_until, refusal, run, sdk, tokens
from websockets.exceptions import ConnectionClosedOK, InvalidStatus

from fake_openai import FakeOpenAIServer

OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


def test_call_with_multipart_session_and_sideband_response_from_call_respond(
    fake: FakeOpenAIServer,
) -> None:
    async def scenario() -> str:
        async with sdk(fake) as client:
            raw = await client.realtime.calls.with_raw_response.create(
                sdp=OFFER,
                session={
                    "type": "realtime",
                    "model": MODEL,
                    "instructions": "Be kind.",
                    "output_modalities": ["text"],
                },
            )
            assert raw.status_code == 201
            assert raw.headers["content-type"] == "application/sdp"
            assert raw.http_response.text.startswith("v=0\r\n")
            location = raw.headers["location"]
            assert location.startswith("/v1/realtime/calls/rtc_")
            call_id = location.rsplit("/", 1)[1]

            async with client.realtime.connect(call_id=call_id) as conn:
                created = await recv(conn)
                assert created.session.instructions == "Be kind."
                response_id = fake.call_respond(
                    call_id, "I need help with my bill", audio_seconds=2
                )
                events = await recv_until(conn, "response.done")

        assert [e.type for e in events[:5]] == [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
        ]
        assert events[1].audio_end_ms == 2000
        assert events[3].item.content[0].transcript == "I need help with my bill"
        assert events[5].type == "response.created"
        done = events[-1].response
        assert done.id == response_id
        assert done.output[0].content[0].text == "Fake answer: I need help with my bill"
        assert done.usage.input_token_details.text_tokens == tokens("Be kind.")
        assert done.usage.input_token_details.audio_tokens == audio_tokens(2.0)
        assert done.usage.output_tokens == 8
        return call_id

    call_id = run(scenario())
    create = next(r for r in fake.requests if r.path == "/v1/realtime/calls")
    assert create.headers["content-type"].startswith("multipart/form-data; boundary=")
    sideband = next(r for r in fake.requests if r.path == "/v1/realtime")
    assert sideband.query == {"call_id": call_id}
    assert sideband.headers["authorization"] == f"Bearer {API_KEY}"


def test_call_with_raw_sdp_and_an_ephemeral_key(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake) as client:
            secret = await client.realtime.client_secrets.create(
                session={"type": "realtime", "model": MODEL}
            )
        async with sdk(fake, secret.value) as browser:
            raw = await browser.realtime.calls.with_raw_response.create(sdp=OFFER)
            assert raw.status_code == 201
            call_id = raw.headers["location"].rsplit("/", 1)[1]
            # The sideband wants the standard key; an ephemeral one finds no call.
            with pytest.raises(InvalidStatus) as refused:
                async with browser.realtime.connect(call_id=call_id):
                    pass
        assert refused.value.response.status_code == 404
        async with sdk(fake).realtime.connect(call_id=call_id) as conn:
            assert (await recv(conn)).session.model == MODEL

    run(scenario())
    create = next(r for r in fake.requests if r.path == "/v1/realtime/calls")
    assert create.headers["content-type"] == "application/sdp"
    assert create.headers["authorization"].startswith("Bearer ek_")
    assert create.body.decode() == OFFER


def test_hangup_closes_the_sideband_normally_and_is_recorded(fake: FakeOpenAIServer) -> None:
    async def scenario() -> str:
        async with sdk(fake) as client:
            raw = await client.realtime.calls.with_raw_response.create(sdp=OFFER)
            call_id = raw.headers["location"].rsplit("/", 1)[1]
            async with client.realtime.connect(call_id=call_id) as conn:
                assert (await recv(conn)).type == "session.created"
                await client.realtime.calls.hangup(call_id)
                with pytest.raises(ConnectionClosedOK) as closed:
                    await recv(conn)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1000

            with pytest.raises(InvalidStatus) as gone:
                async with client.realtime.connect(call_id=call_id):
                    pass
            assert gone.value.response.status_code == 404
            with pytest.raises(openai.NotFoundError):
                await client.realtime.calls.hangup(call_id)
        return call_id

    call_id = run(scenario())
    assert fake.hung_up == {call_id}


def test_accept_configures_the_call_and_reject_ends_it(fake: FakeOpenAIServer) -> None:
    async def scenario() -> str:
        async with sdk(fake) as client:
            raw = await client.realtime.calls.with_raw_response.create(sdp=OFFER)
            call_id = raw.headers["location"].rsplit("/", 1)[1]
            await client.realtime.calls.accept(call_id, type="realtime", instructions="Hi caller")
            async with client.realtime.connect(call_id=call_id) as conn:
                assert (await recv(conn)).session.instructions == "Hi caller"
                await client.realtime.calls.reject(call_id)
                with pytest.raises(ConnectionClosedOK):
                    await recv(conn)
        return call_id

    call_id = run(scenario())
    assert fake.hung_up == set(), "a rejected call was not hung up"
    with pytest.raises(KeyError):
        fake.call_respond(call_id, "anyone there?")


def test_sideband_for_an_unknown_call_is_404_call_id_not_found(fake: FakeOpenAIServer) -> None:
    async def scenario() -> None:
        async with sdk(fake).realtime.connect(call_id="rtc_0000"):
            pass

    status, error = refusal(scenario())
    assert (status, error["code"]) == (404, "call_id_not_found")
