"""What a Realtime response cut before its usage came is charged: an estimate.

The session's last known input (a response re-reads the conversation so far)
and the output streamed before the cut: a token per text delta, and audio at
the rate the per-minute audio prices imply.
"""

from __future__ import annotations

import math

from gateway.metering.usage import Usage

# PCM16 mono 24 kHz, and the audio token rates the per-minute audio prices imply
# (10 in, 20 out per second).
PCM_BYTES_PER_S = 48_000
AUDIO_OUTPUT_TOKENS_PER_S = 20


def cut_usage(last_input: Usage, text_deltas: int, audio_bytes: int) -> Usage:
    seconds = audio_bytes / PCM_BYTES_PER_S
    last = last_input
    return Usage(
        input_tokens=last.input_tokens + last.cached_input_tokens,
        audio_input_tokens=last.audio_input_tokens + last.cached_audio_input_tokens,
        image_input_tokens=last.image_input_tokens,
        output_tokens=text_deltas,
        audio_output_tokens=math.ceil(seconds * AUDIO_OUTPUT_TOKENS_PER_S),
    )
