"""A user's audio turn in a Realtime session: the buffer committed as a user item, its
transcript when the session transcribes input audio, and voice activity detection.

Transcription (``audio.input.transcription.model`` set): each committed turn gets
``conversation.item.input_audio_transcription.completed`` after its item events, with the
transcript ``Fake transcript of N seconds of audio.`` (N the turn's seconds, rounded up) and
its usage, as ``POST /v1/audio/transcriptions`` reports it: whisper-1 ``{type: "duration",
seconds}`` (exact, a float), other models ``{type: "tokens"}`` with 10 input audio tokens a
second and one output token per transcript word.

Voice activity (``audio.input.turn_detection`` set, any type): the fake hears every append as
speech that ends with it, so as soon as the buffer holds at least 100 ms the whole buffer is one
turn: ``input_audio_buffer.speech_started``, ``.speech_stopped``, then the committed turn as
above; and when ``create_response`` is not false and no response is running, a response as for
``response.create`` with the session's settings.
"""

from __future__ import annotations

import math
from typing import Any

from fake_openai.encoding import realtime_event
from fake_openai.realtime_audio import AUDIO_BYTES_PER_SECOND, MIN_COMMIT_BYTES, input_audio_tokens
from fake_openai.realtime_config import as_object
from fake_openai.realtime_session import Item, Session, message
from fake_openai.transcription import transcript_text
from fake_openai.wire import JsonObject

TRANSCRIPTION_COMPLETED = "conversation.item.input_audio_transcription.completed"


def turn_detection(session: Session) -> JsonObject | None:
    setting = as_object(as_object(session.config.get("audio")).get("input")).get("turn_detection")
    return setting if isinstance(setting, dict) else None


def voice_responds(session: Session) -> bool:
    """Whether a voice turn starts a response by itself."""
    setting = turn_detection(session)
    return setting is not None and setting.get("create_response") is not False


def voice_turn_ready(session: Session) -> bool:
    return turn_detection(session) is not None and len(session.audio_buffer) >= MIN_COMMIT_BYTES


def commit_turn(session: Session, *, voiced: bool) -> list[JsonObject]:
    """Commit the whole buffer as a user item; the events that tell it, in order."""
    nbytes = len(session.audio_buffer)
    session.audio_buffer.clear()
    item = Item(
        {**message("user"), "content": [{"type": "input_audio", "transcript": None}]},
        {0: nbytes},
    )
    session.items.append(item)
    previous = session.previous_id(len(session.items) - 1)
    events: list[JsonObject] = []
    if voiced:
        ms = nbytes * 1000 // AUDIO_BYTES_PER_SECOND
        events += [
            realtime_event("input_audio_buffer.speech_started", audio_start_ms=0, item_id=item.id),
            realtime_event("input_audio_buffer.speech_stopped", audio_end_ms=ms, item_id=item.id),
        ]
    for name, fields in (
        ("input_audio_buffer.committed", {"item_id": item.id}),
        ("conversation.item.added", {"item": item.obj}),
        ("conversation.item.done", {"item": item.obj}),
    ):
        events.append(realtime_event(name, **fields, previous_item_id=previous))
    transcript = transcription_completed(session, item, nbytes)
    if transcript is not None:
        events.append(transcript)
    return events


def transcription_completed(session: Session, item: Item, nbytes: int) -> JsonObject | None:
    """The transcript of a committed turn, if the session transcribes input audio."""
    setting = as_object(as_object(session.config.get("audio")).get("input")).get("transcription")
    model = setting.get("model") if isinstance(setting, dict) else None
    if not isinstance(model, str):
        return None
    seconds = nbytes / AUDIO_BYTES_PER_SECOND
    text = transcript_text(max(1, math.ceil(seconds)))
    usage: dict[str, Any]
    if model.startswith("whisper"):
        usage = {"type": "duration", "seconds": seconds}
    else:
        audio = input_audio_tokens(nbytes)
        words = len(text.split())
        usage = {
            "type": "tokens",
            "input_tokens": audio,
            "input_token_details": {"text_tokens": 0, "audio_tokens": audio},
            "output_tokens": words,
            "total_tokens": audio + words,
        }
    return realtime_event(
        TRANSCRIPTION_COMPLETED, item_id=item.id, content_index=0, transcript=text, usage=usage
    )
