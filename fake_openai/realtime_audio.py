"""Realtime audio: the one format the fake speaks (PCM16 mono at 24 kHz, whatever a session
configures) and what a length of it costs in tokens."""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

from fake_openai.wire import ApiError

SAMPLE_RATE = 24_000
AUDIO_BYTES_PER_SECOND = 2 * SAMPLE_RATE
"""PCM16 mono at 24 kHz, the only audio format the fake produces (whatever is configured)."""
INPUT_AUDIO_BYTES_PER_TOKEN = AUDIO_BYTES_PER_SECOND // 10
"""10 input audio tokens a second: 4800 bytes each."""
OUTPUT_AUDIO_BYTES_PER_TOKEN = AUDIO_BYTES_PER_SECOND // 20
"""20 output audio tokens a second: 2400 bytes each."""
AUDIO_BYTES_PER_WORD = AUDIO_BYTES_PER_SECOND // 10
"""0.1 s of generated silence per answer word: 2 output audio tokens."""
MIN_COMMIT_BYTES = AUDIO_BYTES_PER_SECOND // 10
"""``input_audio_buffer.commit`` needs at least 100 ms of audio, like the real API."""


def input_audio_tokens(nbytes: int) -> int:
    """Input tokens of ``nbytes`` of PCM16 mono 24 kHz audio: 10 a second, rounded up."""
    return math.ceil(nbytes / INPUT_AUDIO_BYTES_PER_TOKEN)


def pcm16_silence(seconds: float) -> bytes:
    """``seconds`` of PCM16 mono 24 kHz silence, e.g. to append as input audio in tests."""
    return bytes(2 * round(seconds * SAMPLE_RATE))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def decode_audio(value: Any, param: str) -> bytes:
    """The bytes of a base64 audio field, or the 400 for anything else."""
    if not isinstance(value, str):
        raise ApiError(400, f"Invalid type for '{param}': expected a base64 string.", param=param)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(
            400,
            f"Invalid '{param}': expected base64-encoded audio bytes.",
            param=param,
            code="invalid_value",
        ) from None
