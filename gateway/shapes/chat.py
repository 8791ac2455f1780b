"""Chat Completions (``POST /v1/chat/completions``), as an endpoint description."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors.wire import sse_chat
from gateway.metering.usage import Usage, from_chat
from gateway.policy.request import apply_chat
from gateway.routing.classify import judge_chat
from gateway.shapes.endpoint import CreateRequest, Endpoint, Tap, model_and_stream
from gateway.shapes.refs import CHAT_COMPLETION, chat_refs
from gateway.shapes.sse import ChatTap


def _parse(body: dict[str, Any]) -> CreateRequest:
    model, stream = model_and_stream(body)
    creates = CHAT_COMPLETION if body.get("store") is True else None
    return CreateRequest(model, stream, tuple(chat_refs(body)), creates)


def _usage(usage: Mapping[str, Any], _: Mapping[str, Any] | None) -> Usage:
    return from_chat(usage)


def _tap(strip_usage: bool) -> Tap:
    return ChatTap(strip_usage)


CHAT = Endpoint(
    name="chat.completions",
    family="chat",
    upstream_path="/chat/completions",
    parse=_parse,
    apply_policy=apply_chat,
    usage=_usage,
    new_tap=_tap,
    stream_error=sse_chat,
    judge=judge_chat,
)
