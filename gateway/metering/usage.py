"""Usage figures from each API shape, normalised into disjoint, priceable kinds.

OpenAI reports usage in three dialects (Responses, Chat, Realtime) with
subsets hidden inside totals: cached tokens are part of the input count,
reasoning tokens part of the output count, audio and image tokens part of
both. :class:`Usage` holds disjoint counts, so a cost is one sum of
count × price with nothing counted twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_EMPTY: Mapping[str, int] = {}


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0  # uncached text input
    cached_input_tokens: int = 0  # cached text input
    output_tokens: int = 0  # text output, reasoning included
    reasoning_tokens: int = 0  # informational: already inside output_tokens
    audio_input_tokens: int = 0  # uncached audio input
    cached_audio_input_tokens: int = 0
    audio_output_tokens: int = 0
    image_input_tokens: int = 0
    # Per-call fees: hosted-tool calls, and units a model prices (images, audio seconds).
    tool_calls: Mapping[str, int] = field(default_factory=lambda: _EMPTY)

    @property
    def total_input(self) -> int:
        return (
            self.input_tokens
            + self.cached_input_tokens
            + self.audio_input_tokens
            + self.cached_audio_input_tokens
            + self.image_input_tokens
        )

    @property
    def total_output(self) -> int:
        return self.output_tokens + self.audio_output_tokens


def _int(obj: Any, *keys: str) -> int:
    for key in keys:
        if not isinstance(obj, dict):  # parsed JSON; a dict check is ~5x cheaper than Mapping's
            return 0
        obj = obj.get(key)
    return obj if isinstance(obj, int) and obj > 0 else 0


def split_input(usage: Mapping[str, Any], details: str, part: str) -> tuple[int, int]:
    """``input_tokens`` as (the rest, the ``details.part`` share): image or audio input."""
    total = _int(usage, "input_tokens")
    share = min(_int(usage, details, part), total)
    return total - share, share


def from_responses(usage: Mapping[str, Any], response: Mapping[str, Any] | None = None) -> Usage:
    """``ResponseUsage`` (+ the response's hosted-tool calls, which carry per-call fees)."""
    total_in = _int(usage, "input_tokens")
    cached = min(_int(usage, "input_tokens_details", "cached_tokens"), total_in)
    return Usage(
        input_tokens=total_in - cached,
        cached_input_tokens=cached,
        output_tokens=_int(usage, "output_tokens"),
        reasoning_tokens=_int(usage, "output_tokens_details", "reasoning_tokens"),
        tool_calls=hosted_tool_calls(response) if response is not None else _EMPTY,
    )


def from_chat(usage: Mapping[str, Any]) -> Usage:
    """``CompletionUsage``: audio and image tokens are split out of the prompt/completion totals."""
    prompt = _int(usage, "prompt_tokens")
    cached = _int(usage, "prompt_tokens_details", "cached_tokens")
    audio_in = _int(usage, "prompt_tokens_details", "audio_tokens")
    image_in = _int(usage, "prompt_tokens_details", "image_tokens")
    audio_out = _int(usage, "completion_tokens_details", "audio_tokens")
    completion = _int(usage, "completion_tokens")
    return Usage(
        input_tokens=max(prompt - cached - audio_in - image_in, 0),
        cached_input_tokens=min(cached, prompt),
        output_tokens=max(completion - audio_out, 0),
        reasoning_tokens=_int(usage, "completion_tokens_details", "reasoning_tokens"),
        audio_input_tokens=audio_in,
        audio_output_tokens=audio_out,
        image_input_tokens=image_in,
    )


def from_realtime(usage: Mapping[str, Any]) -> Usage:
    """Realtime ``response.done`` usage: per-modality counts, cached share per modality."""
    text_in = _int(usage, "input_token_details", "text_tokens")
    audio_in = _int(usage, "input_token_details", "audio_tokens")
    image_in = _int(usage, "input_token_details", "image_tokens")
    cached_text = _int(usage, "input_token_details", "cached_tokens_details", "text_tokens")
    cached_audio = _int(usage, "input_token_details", "cached_tokens_details", "audio_tokens")
    cached_image = _int(usage, "input_token_details", "cached_tokens_details", "image_tokens")
    return Usage(
        input_tokens=max(text_in - cached_text, 0),
        cached_input_tokens=cached_text + cached_image,
        output_tokens=_int(usage, "output_token_details", "text_tokens"),
        audio_input_tokens=max(audio_in - cached_audio, 0),
        cached_audio_input_tokens=cached_audio,
        audio_output_tokens=_int(usage, "output_token_details", "audio_tokens"),
        image_input_tokens=max(image_in - cached_image, 0),
    )


# Output item types of hosted tools with a per-call fee, by the pricing name of the tool.
_TOOL_ITEMS = {
    "web_search_call": "web_search",
    "file_search_call": "file_search",
    "code_interpreter_call": "code_interpreter",
    "image_generation_call": "image_generation",
}


def hosted_tool_calls(response: Mapping[str, Any]) -> Mapping[str, int]:
    """Billable hosted-tool calls: ``tool_usage`` when reported, else counted from output items."""
    counts: dict[str, int] = {}
    output = response.get("output")
    if isinstance(output, list):
        for item in output:
            if isinstance(item, dict):
                tool = _TOOL_ITEMS.get(item.get("type"))  # type: ignore[arg-type]
                if tool is not None:
                    counts[tool] = counts.get(tool, 0) + 1
    reported = _int(response, "tool_usage", "web_search", "num_requests")
    if reported:
        counts["web_search"] = reported
    return counts or _EMPTY
