"""SSE taps: any chunking of a stream yields the same facts, and only terminal events are decoded."""

from __future__ import annotations

import json
import random

import pytest

from gateway.shapes.sse import ChatTap, ResponsesTap, SseSplitter

USAGE = {
    "input_tokens": 1200,
    "input_tokens_details": {"cached_tokens": 1024},
    "output_tokens": 300,
    "output_tokens_details": {"reasoning_tokens": 192},
    "total_tokens": 1500,
}


def responses_stream(*, terminal: str = "response.completed", crlf: bool = False) -> bytes:
    def event(kind: str, **data: object) -> str:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

    created = {"id": "resp_1", "status": "in_progress", "usage": None, "model": "gpt-5"}
    final = {"id": "resp_1", "status": terminal.split(".")[1], "usage": USAGE, "model": "gpt-5"}
    text = (
        event("response.created", sequence_number=0, response=created)
        + event("response.in_progress", sequence_number=1, response=created)
        + "".join(
            event("response.output_text.delta", sequence_number=2 + i, delta="é" * 40)
            for i in range(30)
        )
        + event(terminal, sequence_number=32, response=final | {"output": ["x" * 5000]})
    )
    if crlf:
        text = text.replace("\n", "\r\n")
    return text.encode()


def feed_in_chunks(tap: ResponsesTap | ChatTap, data: bytes, sizes: list[int]) -> None:
    i = 0
    for size in sizes:
        tap.feed(data[i : i + size])
        i += size
    tap.feed(data[i:])


@pytest.mark.parametrize("seed", range(20))
def test_any_chunking_yields_the_same_facts(seed: int) -> None:
    data = responses_stream(crlf=seed % 2 == 1)
    rng = random.Random(seed)
    sizes = [rng.randint(1, 700) for _ in range(len(data) // 50)]
    tap = ResponsesTap()
    feed_in_chunks(tap, data, sizes)
    assert tap.facts.response_id == "resp_1"
    assert tap.facts.terminal == "response.completed"
    assert tap.facts.usage == USAGE
    assert tap.facts.events == 33


def test_completed_split_across_two_chunks() -> None:
    data = responses_stream()
    cut = data.index(b"event: response.completed") + 40
    tap = ResponsesTap()
    tap.feed(data[:cut])
    assert tap.facts.terminal is None
    tap.feed(data[cut:])
    assert tap.facts.terminal == "response.completed"


@pytest.mark.parametrize("terminal", ["response.incomplete", "response.failed"])
def test_other_terminal_events_carry_usage(terminal: str) -> None:
    tap = ResponsesTap()
    tap.feed(responses_stream(terminal=terminal))
    assert tap.facts.terminal == terminal
    assert tap.facts.usage == USAGE


def test_cut_stream_has_no_terminal() -> None:
    data = responses_stream()
    tap = ResponsesTap()
    tap.feed(data[: data.index(b"event: response.completed")])
    assert tap.facts.response_id == "resp_1"
    assert tap.facts.terminal is None
    assert tap.facts.usage is None


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "error", "code": "server_error", "message": "boom", "param": None},
        {"type": "error", "error": {"type": "server_error", "code": "x", "message": "boom"}},
    ],
    ids=["flat", "nested"],
)
def test_both_error_event_forms_are_recognised(payload: dict[str, object]) -> None:
    tap = ResponsesTap()
    tap.feed(f"event: error\ndata: {json.dumps(payload)}\n\n".encode())
    assert tap.facts.error is not None
    assert tap.facts.error.get("message") == "boom"


def test_chat_usage_chunk_and_done() -> None:
    chunks = [
        {"id": "chatcmpl-1", "model": "gpt-4.1", "choices": [{"delta": {"content": "hi"}}], "usage": None},
        {"id": "chatcmpl-1", "choices": [{"delta": {}, "finish_reason": "stop"}], "usage": None},
        {"id": "chatcmpl-1", "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3}},
    ]  # fmt: skip
    data = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    tap = ChatTap()
    feed_in_chunks(tap, data.encode(), [7] * 40)
    assert tap.facts.response_id == "chatcmpl-1"
    assert tap.facts.usage == {"prompt_tokens": 12, "completion_tokens": 3}
    assert tap.facts.terminal == "[DONE]"


def test_chat_mid_stream_error() -> None:
    tap = ChatTap()
    tap.feed(b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n')
    assert tap.facts.error == {"message": "overloaded", "type": "server_error"}


def test_splitter_keeps_only_the_unfinished_event() -> None:
    split = SseSplitter()
    assert split.feed(b"data: a\n\ndata: b\n\ndata: c") == [b"data: a", b"data: b"]
    assert split.pending == len(b"data: c")
    assert split.feed(b"\n\n") == [b"data: c"]
    assert split.pending == 0
