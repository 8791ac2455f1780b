"""What a Realtime response will be, fixed when it is requested: its settings, its prompt and
the part of it cached from the session's previous response, its answer; and the
``realtime.response`` object and usage it reports (the rules are in ``fake_openai/README.md``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from fake_openai.encoding import realtime_event
from fake_openai.faults import Fault
from fake_openai.generation import answer_words, split_deltas
from fake_openai.realtime_audio import AUDIO_BYTES_PER_WORD, OUTPUT_AUDIO_BYTES_PER_TOKEN
from fake_openai.realtime_config import as_object, check_max_output_tokens, check_modalities
from fake_openai.realtime_items import make_item
from fake_openai.realtime_session import (
    Active,
    Item,
    Modality,
    Part,
    PartKind,
    Session,
    item_id,
    text_tokens,
)
from fake_openai.state import FakeState
from fake_openai.wire import (
    RATE_LIMIT_REQUESTS,
    RATE_LIMIT_TOKENS,
    REALTIME_PATH,
    ApiError,
    JsonObject,
    new_id,
)


@dataclass
class Plan:
    """Everything a response needs, fixed when it is requested."""

    response_id: str
    item_id: str
    modality: Modality
    cap: int | Literal["inf"]
    prompt: list[Part]
    cached: list[Part]
    deltas: list[str]
    in_conversation: bool
    metadata: Any
    voice: Any
    audio_format: Any
    forced_incomplete: bool


def plan_response(
    state: FakeState, session: Session, overrides: JsonObject
) -> tuple[Plan, Fault | None]:
    """Fix a response's prompt, answer and settings, and reserve the session for it."""
    if session.active is not None:
        raise ApiError(
            400,
            "Conversation already has an active response in progress: "
            f"{session.active.id}. Wait until the response is finished before creating "
            "a new one.",
            code="conversation_already_has_active_response",
        )
    config = session.config
    modality = check_modalities(
        overrides.get("output_modalities", config.get("output_modalities", ["audio"])),
        "response.output_modalities",
    )
    cap = check_max_output_tokens(
        overrides.get("max_output_tokens", config.get("max_output_tokens", "inf")),
        "response.max_output_tokens",
    )
    conversation = overrides.get("conversation", "auto")
    if conversation not in ("auto", "none"):
        raise ApiError(
            400,
            f"Invalid value for 'response.conversation': {conversation!r}.",
            param="response.conversation",
            code="invalid_value",
        )
    instructions = overrides.get("instructions", config.get("instructions")) or ""
    if not isinstance(instructions, str):
        raise ApiError(
            400, "Invalid type for 'response.instructions'.", param="response.instructions"
        )
    items = _input(session, overrides.get("input"))
    output_audio = as_object(as_object(config.get("audio")).get("output"))
    override_audio = as_object(as_object(overrides.get("audio")).get("output"))

    prompt = _prompt(instructions, items)
    cached = _cached_prefix(prompt, session.last_prompt)
    fault = session.fault
    session.fault = None
    if fault is None:
        fault = state.pop_fault(REALTIME_PATH, b"", session.model)
    plan = Plan(
        response_id=new_id("resp_", 12),
        item_id=item_id(),
        modality=modality,
        cap=cap,
        prompt=prompt,
        cached=cached,
        deltas=_answer(items, fault),
        in_conversation=conversation == "auto",
        metadata=overrides.get("metadata"),
        voice=override_audio.get("voice", output_audio.get("voice")),
        audio_format=override_audio.get("format", output_audio.get("format")),
        forced_incomplete=fault is not None and fault.incomplete,
    )
    session.last_prompt = prompt
    session.last_response_id = plan.response_id
    session.active = Active(plan.response_id)
    return plan, fault


def _input(session: Session, raw_input: Any) -> list[Item]:
    """The items a response reads: ``response.input`` if given, else the conversation."""
    if raw_input is None:
        return list(session.items)
    if not isinstance(raw_input, list):
        raise ApiError(400, "Invalid type for 'response.input'.", param="response.input")
    items = []
    for index, raw in enumerate(raw_input):
        if isinstance(raw, dict) and raw.get("type") == "item_reference":
            found = session.find(raw.get("id"))
            if found is None:
                raise ApiError(
                    400,
                    f"Item with id '{raw.get('id')}' not found.",
                    param=f"response.input[{index}].id",
                    code="item_not_found",
                )
            items.append(session.items[found])
        else:
            items.append(make_item(raw, f"response.input[{index}]"))
    return items


def _prompt(instructions: str, items: list[Item]) -> list[Part]:
    """The parts a response reads: the instructions, then every content part of its input."""
    prompt = (
        [Part(f"instructions:{instructions}", "text", text_tokens(instructions))]
        if instructions
        else []
    )
    return prompt + [part for item in items for part in item.parts()]


def _cached_prefix(prompt: list[Part], last_prompt: list[Part]) -> list[Part]:
    """The leading parts that equal those of the session's previous prompt: cached."""
    cached: list[Part] = []
    for now, before in zip(prompt, last_prompt, strict=False):
        if now != before:
            break
        cached.append(now)
    return cached


def _answer(items: list[Item], fault: Fault | None) -> list[str]:
    """The answer's deltas: scripted by the fault, else an echo of the last user message."""
    if fault is not None and fault.output_text is not None:
        return split_deltas(fault.output_text)
    users = [item for item in items if item.obj.get("role") == "user"]
    source = users[-1].spoken_text() if users else ""
    return split_deltas(" ".join(answer_words(source)))


def finish_item(item: Item, plan: Plan, produced: list[str], incomplete: bool) -> None:
    """Fill in the answer item once its words are known (all of them, or those sent)."""
    said = "".join(produced)
    item.obj["status"] = "incomplete" if incomplete else "completed"
    if plan.modality == "text":
        item.obj["content"] = [{"type": "output_text", "text": said}]
    else:
        item.obj["content"] = [{"type": "output_audio", "transcript": said}]
        item.audio_bytes[0] = len(produced) * AUDIO_BYTES_PER_WORD


def response_object(
    session: Session,
    plan: Plan,
    ending: tuple[str, str | None] | None,
    output: list[JsonObject],
    produced: list[str] | None = None,
) -> JsonObject:
    """A ``realtime.response``: in progress (``ending`` None) or final, with usage."""
    usage: JsonObject | None = None
    status_details: JsonObject | None = None
    status = "in_progress"
    if ending is not None:
        status, reason = ending
        status_details = {"type": status, "reason": reason, "error": None}
        usage = _usage(plan, len(produced or []))
    return {
        "id": plan.response_id,
        "object": "realtime.response",
        "status": status,
        "status_details": status_details,
        "output": output,
        "conversation_id": session.conversation_id if plan.in_conversation else None,
        "output_modalities": [plan.modality],
        "max_output_tokens": plan.cap,
        "audio": {"output": {"format": plan.audio_format, "voice": plan.voice}},
        "usage": usage,
        "metadata": plan.metadata,
    }


def _by_kind(parts: list[Part]) -> dict[PartKind, int]:
    totals: dict[PartKind, int] = {"text": 0, "audio": 0, "image": 0}
    for part in parts:
        totals[part.kind] += part.tokens
    return totals


def _usage(plan: Plan, words: int) -> JsonObject:
    used, cached = _by_kind(plan.prompt), _by_kind(plan.cached)
    out_text = words
    out_audio = 0
    if plan.modality == "audio":
        out_audio = words * AUDIO_BYTES_PER_WORD // OUTPUT_AUDIO_BYTES_PER_TOKEN
    input_tokens = sum(used.values())
    output_tokens = out_text + out_audio
    return {
        "total_tokens": input_tokens + output_tokens,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "input_token_details": {
            "text_tokens": used["text"],
            "audio_tokens": used["audio"],
            "image_tokens": used["image"],
            "cached_tokens": sum(cached.values()),
            "cached_tokens_details": {
                "text_tokens": cached["text"],
                "audio_tokens": cached["audio"],
                "image_tokens": cached["image"],
            },
        },
        "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
    }


def rate_limits_event(plan: Plan) -> JsonObject:
    """``rate_limits.updated``: one request, and the prompt plus the cap reserved as tokens."""
    reserved = sum(part.tokens for part in plan.prompt)
    reserved += 4096 if plan.cap == "inf" else plan.cap
    return realtime_event(
        "rate_limits.updated",
        rate_limits=[
            {
                "name": "requests",
                "limit": RATE_LIMIT_REQUESTS,
                "remaining": RATE_LIMIT_REQUESTS - 1,
                "reset_seconds": round(60 / RATE_LIMIT_REQUESTS, 3),
            },
            {
                "name": "tokens",
                "limit": RATE_LIMIT_TOKENS,
                "remaining": RATE_LIMIT_TOKENS - reserved,
                "reset_seconds": round(reserved * 60 / RATE_LIMIT_TOKENS, 3),
            },
        ],
    )
