"""Property: however a stream is cut into chunks, the taps learn the same facts."""

from __future__ import annotations

import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.shapes.sse import ChatTap, ResponsesTap


def responses_stream(deltas: list[str], crlf: bool, terminal: str) -> bytes:
    usage = {"input_tokens": 7, "output_tokens": len(deltas), "total_tokens": 7 + len(deltas)}

    def event(kind: str, **data: object) -> str:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

    text = event("response.created", response={"id": "resp_p", "status": "in_progress"})
    text += "".join(event("response.output_text.delta", delta=d) for d in deltas)
    text += event(terminal, response={"id": "resp_p", "status": "x", "usage": usage})
    return (text.replace("\n", "\r\n") if crlf else text).encode()


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({0, len(data), *(p % (len(data) + 1) for p in points)})
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@settings(max_examples=200, deadline=None)
@given(
    deltas=st.lists(st.text(min_size=0, max_size=12), max_size=30),
    crlf=st.booleans(),
    terminal=st.sampled_from(["response.completed", "response.incomplete", "response.failed"]),
    points=st.lists(st.integers(min_value=0, max_value=10_000), max_size=40),
)
def test_any_chunking_of_a_responses_stream(
    deltas: list[str], crlf: bool, terminal: str, points: list[int]
) -> None:
    data = responses_stream(deltas, crlf, terminal)
    whole = ResponsesTap()
    whole.feed(data)
    pieces = ResponsesTap()
    for chunk in cut(data, points):
        pieces.feed(chunk)
    assert pieces.facts == whole.facts
    assert whole.facts.terminal == terminal
    assert whole.facts.usage is not None
    assert whole.facts.usage["output_tokens"] == len(deltas)
    assert whole.facts.events == len(deltas) + 2


@settings(max_examples=200, deadline=None)
@given(
    deltas=st.lists(st.text(max_size=8), max_size=20),
    points=st.lists(st.integers(min_value=0, max_value=5_000), max_size=30),
)
def test_stripping_usage_gives_the_stream_the_client_would_have_had(
    deltas: list[str], points: list[int]
) -> None:
    chunks = [
        {"id": "chatcmpl-p", "choices": [{"delta": {"content": d}}], "usage": None} for d in deltas
    ]
    usage_chunk = {
        "id": "chatcmpl-p",
        "choices": [],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2},
    }
    body = [f"data: {json.dumps(c)}\n\n" for c in [*chunks, usage_chunk]] + ["data: [DONE]\n\n"]
    data = "".join(body).encode()
    tap = ChatTap(strip_usage=True)
    out = b"".join(tap.filter(piece) for piece in cut(data, points))
    # What the client would have had without include_usage: no usage chunk, no "usage" key.
    unasked = [{k: v for k, v in c.items() if k != "usage"} for c in chunks]
    expected = [f"data: {json.dumps(c)}\n\n" for c in unasked] + ["data: [DONE]\n\n"]
    assert out == "".join(expected).encode()
    assert tap.facts.usage == usage_chunk["usage"]
    assert tap.facts.terminal == "[DONE]"
