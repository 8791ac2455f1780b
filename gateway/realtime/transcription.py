"""Input-audio transcription in a Realtime session: one metered call per transcript.

The upstream transcribes committed audio with the session's transcription
model, apart from any response, and reports the usage on
``conversation.item.input_audio_transcription.completed``: tokens, or seconds
for per-second models (whisper-1). It has already run, so it is admitted with
force, like any call the upstream started by itself, and settled at once at
the transcription model's price (`gateway.shapes.audio`: per token, or per
``audio_second``), one ledger row per transcript.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.auth.callers import Caller
from gateway.config.runtime import Model, RuntimeConfig
from gateway.metering.outcome import Measured
from gateway.pipeline.context import RequestContext
from gateway.pipeline.meter import Meter
from gateway.shapes.audio import TRANSCRIPTIONS

COMPLETED = "conversation.item.input_audio_transcription.completed"


async def meter_transcript(
    meter: Meter,
    config: RuntimeConfig,
    caller: Caller,
    model: Model,
    event: Mapping[str, Any],
    session_id: str | None,
) -> int:
    """Bill one completed transcript; returns its cost in nano-USD."""
    raw_usage = event.get("usage")
    usage = TRANSCRIPTIONS.usage(raw_usage if isinstance(raw_usage, Mapping) else {}, None)
    ctx = RequestContext.start("GET", "/v1/realtime", "realtime")
    ctx.tenant, ctx.subject = caller.tenant, caller.principal.subject
    ctx.service = caller.service
    ctx.model, ctx.stream = model.name, True
    call = await meter.admit(ctx, caller, config, model, bound=0, tokens=0, force=True)
    item_id = event.get("item_id")
    ctx.response_id = item_id if isinstance(item_id, str) else None
    measured = Measured(usage, None, None, ctx.response_id, "completed", False)
    return call.settle(measured, 200, session_id=session_id)
