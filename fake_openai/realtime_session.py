"""A Realtime session as the fake keeps it: its configuration, its conversation items (with the
token cost of each content part), its sockets, and the response it is producing."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from fake_openai.faults import Fault
from fake_openai.realtime_audio import input_audio_tokens
from fake_openai.sockets import Peer
from fake_openai.wire import JsonObject, new_id

DEFAULT_MODEL = "gpt-realtime"
IMAGE_TOKENS = 85
"""Input tokens of one ``input_image`` part."""

PartKind = Literal["text", "audio", "image"]
Modality = Literal["text", "audio"]


def text_tokens(text: str) -> int:
    """Tokens of one text part: a quarter of its characters, rounded up (0 for "")."""
    return math.ceil(len(text) / 4)


def item_id() -> str:
    return new_id("item_", 12)


def message(role: str, status: str = "completed") -> JsonObject:
    """The start of a ``message`` item (its content is added by the caller)."""
    return {
        "id": item_id(),
        "type": "message",
        "object": "realtime.item",
        "status": status,
        "role": role,
    }


@dataclass(frozen=True)
class Part:
    """One part of a prompt, for token counts and the cached-prefix comparison."""

    key: str
    kind: PartKind
    tokens: int


@dataclass
class Item:
    """A conversation item as echoed (no audio), plus the audio sizes it stands for."""

    obj: JsonObject
    audio_bytes: dict[int, int] = field(default_factory=dict)
    """PCM16 byte count of each audio content part, by content index."""

    @property
    def id(self) -> str:
        return str(self.obj["id"])

    def parts(self) -> list[Part]:
        obj, parts = self.obj, []
        kind = obj.get("type")
        if kind == "function_call":
            parts.append(Part(f"{self.id}/0", "text", text_tokens(obj.get("arguments") or "")))
        elif kind == "function_call_output":
            parts.append(Part(f"{self.id}/0", "text", text_tokens(obj.get("output") or "")))
        for index, part in enumerate(obj.get("content") or []):
            key = f"{self.id}/{index}"
            ptype = part.get("type")
            if ptype in ("input_audio", "output_audio"):
                tokens = input_audio_tokens(self.audio_bytes.get(index, 0))
                parts.append(Part(key, "audio", tokens))
            elif ptype == "input_image":
                parts.append(Part(key, "image", IMAGE_TOKENS))
            else:
                parts.append(Part(key, "text", text_tokens(part.get("text") or "")))
        return parts

    def spoken_text(self) -> str:
        """What a user message says: its texts and audio transcripts."""
        texts = []
        for part in self.obj.get("content") or []:
            value = part.get("text") if part.get("type") == "input_text" else part.get("transcript")
            if isinstance(value, str) and value:
                texts.append(value)
        return " ".join(texts)


@dataclass
class Active:
    """The response a session is producing."""

    id: str
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


@dataclass
class Session:
    id: str
    config: JsonObject
    conversation_id: str = field(default_factory=lambda: new_id("conv_", 12))
    call_id: str | None = None
    peers: list[Peer] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    audio_buffer: bytearray = field(default_factory=bytearray)
    fault: Fault | None = None
    """Taken at the upgrade; applies to the session's next response."""
    active: Active | None = None
    last_prompt: list[Part] = field(default_factory=list)
    last_response_id: str | None = None

    @property
    def model(self) -> str:
        return str(self.config.get("model") or DEFAULT_MODEL)

    def find(self, item_id: Any) -> int | None:
        for index, item in enumerate(self.items):
            if item.id == item_id:
                return index
        return None

    def previous_id(self, index: int) -> str | None:
        return self.items[index - 1].id if index > 0 else None

    def cut(self) -> None:
        """Cut every socket of the session without a close frame."""
        for peer in list(self.peers):
            peer.cut()


@dataclass
class Call:
    """A WebRTC call: the session its sideband sockets join."""

    id: str
    session: Session
    offer: str
    ended: bool = False
