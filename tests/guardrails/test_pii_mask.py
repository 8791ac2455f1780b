"""Masking and restoring: placeholders per value, restored in text, JSON and streams cut
anywhere (a placeholder split across events included)."""

from __future__ import annotations

import json
import random

import orjson

from gateway.guardrails.pii.detect import Detector
from gateway.guardrails.pii.mask import StreamRestorer, Vault, mask_text, restore
from gateway.guardrails.pii.restore import SocketRestorer, SseRestorer, restore_json
from gateway.guardrails.pii.texts import text_slots

DETECTOR = Detector()
TEXT = "Mail bob@example.com, then carol@example.com, then bob@example.com again."


def masked_vault() -> tuple[str, Vault]:
    vault = Vault()
    masked, kinds = mask_text(DETECTOR, TEXT, vault)
    assert kinds == ["EMAIL", "EMAIL", "EMAIL"]
    return masked, vault


def test_the_same_value_gets_the_same_placeholder() -> None:
    masked, vault = masked_vault()
    assert masked == "Mail «EMAIL_1», then «EMAIL_2», then «EMAIL_1» again."
    assert restore(masked, vault) == TEXT


def test_unknown_and_literal_placeholders_stay() -> None:
    _, vault = masked_vault()
    assert restore("«EMAIL_9» and «not_one» and «EMA", vault) == "«EMAIL_9» and «not_one» and «EMA"


def test_a_nonced_vault_never_restores_a_literal_placeholder_from_the_input() -> None:
    vault = Vault(nonced=True)
    masked, _ = mask_text(DETECTOR, "«EMAIL_1» is bob@example.com", vault)
    assert masked.startswith("«EMAIL_1» is «EMAIL_1_")
    assert restore(masked, vault) == "«EMAIL_1» is bob@example.com"


def test_restoring_into_json_text_escapes_the_value() -> None:
    vault = Vault()
    placeholder = vault.placeholder("SECRET", 'pa"ss\\word')
    arguments = json.dumps({"password": placeholder}, ensure_ascii=False)
    restored = restore(arguments, vault, escape=True)
    assert json.loads(restored) == {"password": 'pa"ss\\word'}
    ascii_only = json.dumps({"password": placeholder})  # «» written as \u00ab, \u00bb
    assert json.loads(restore(ascii_only, vault, escape=True)) == {"password": 'pa"ss\\word'}
    decoded = restore_json({"arguments": arguments, "text": placeholder}, vault)
    assert json.loads(decoded["arguments"]) == {"password": 'pa"ss\\word'}
    assert decoded["text"] == 'pa"ss\\word'


def test_a_stream_cut_at_every_point_restores_exactly() -> None:
    masked, vault = masked_vault()
    answer = masked + " Unknown «EMAIL_9», dangling «EMA"
    expected = TEXT + " Unknown «EMAIL_9», dangling «EMA"
    for cut in range(len(answer) + 1):
        restorer = StreamRestorer(vault)
        out = restorer.feed(answer[:cut]) + restorer.feed(answer[cut:]) + restorer.flush()
        assert out == expected, cut
    rng = random.Random(7)
    for _ in range(300):
        restorer, pieces, pos = StreamRestorer(vault), [], 0
        while pos < len(answer):
            step = rng.randint(1, 6)
            pieces.append(restorer.feed(answer[pos : pos + step]))
            pos += step
        assert "".join(pieces) + restorer.flush() == expected


def test_a_stream_holds_back_only_what_may_still_be_a_placeholder() -> None:
    _, vault = masked_vault()
    restorer = StreamRestorer(vault)
    assert restorer.feed("Hello «EM") == "Hello "
    assert restorer.feed("AIL_1» and «") == "bob@example.com and "
    assert restorer.feed("b") == "«b"  # cannot become a placeholder: out at once


def chat_events(deltas: list[str]) -> bytes:
    chunks = [{"id": "c1", "choices": [{"index": 0, "delta": {"content": d}}]} for d in deltas]
    chunks.append({"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def chat_text(stream: bytes) -> str:
    text = ""
    for event in stream.split(b"\n\n"):
        if event.startswith(b"data: {"):
            for choice in orjson.loads(event[6:])["choices"]:
                text += choice["delta"].get("content", "")
    return text


def test_an_sse_stream_cut_at_any_byte_restores_each_delta_channel() -> None:
    masked, vault = masked_vault()
    stream = chat_events([masked[i : i + 4] for i in range(0, len(masked), 4)])
    for cut in range(0, len(stream), 7):
        sse = SseRestorer(vault)
        out = sse.feed(stream[:cut]) + sse.feed(stream[cut:]) + sse.flush()
        assert chat_text(out) == TEXT, cut
        assert out.endswith(b"data: [DONE]\n\n")


def test_a_held_tail_goes_out_before_the_responses_done_event() -> None:
    _, vault = masked_vault()
    events: list[dict[str, str | int]] = [
        {"type": "response.output_text.delta", "output_index": 0, "content_index": 0,
         "item_id": "m1", "delta": "to «EMAIL_"},
        {"type": "response.output_text.delta", "output_index": 0, "content_index": 0,
         "item_id": "m1", "delta": "2» and «EMAI"},
        {"type": "response.output_text.done", "output_index": 0, "content_index": 0,
         "item_id": "m1", "text": "to «EMAIL_2» and «EMAI"},
    ]  # fmt: skip
    stream = b"".join(
        b"event: " + str(e["type"]).encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n"
        for e in events
    )
    sse = SseRestorer(vault)
    out = [orjson.loads(e.split(b"data: ")[1]) for e in sse.feed(stream).split(b"\n\n") if e]
    deltas = [e["delta"] for e in out if e["type"] == "response.output_text.delta"]
    assert deltas == ["to ", "carol@example.com and ", "«EMAI"]
    assert out[-1]["text"] == "to carol@example.com and «EMAI"


def test_every_input_text_of_both_apis_is_a_slot() -> None:
    responses = {
        "instructions": "i",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "a"},
                                         {"type": "input_image", "image_url": "http://x"}]},
            {"role": "developer", "content": "b"},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": "o"},
        ],
    }  # fmt: skip
    assert [h[k] for h, k in text_slots(responses)] == ["i", "a", "b", "{}", "o"]
    assert [h[k] for h, k in text_slots({"input": "s"})] == ["s"]
    chat = {
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": [{"type": "text", "text": "u"}]},
            {"role": "assistant", "content": None,
             "tool_calls": [{"id": "t", "function": {"name": "f", "arguments": "{1}"}}]},
            {"role": "tool", "tool_call_id": "t", "content": "out"},
        ]
    }  # fmt: skip
    assert [h[k] for h, k in text_slots(chat)] == ["s", "u", "{1}", "out"]


def test_a_sockets_events_are_restored_one_message_at_a_time_in_their_lane() -> None:
    masked, vault = masked_vault()
    pieces = [masked[i : i + 5] for i in range(0, len(masked), 5)]
    address = {"output_index": 0, "content_index": 0, "item_id": "m1", "stream_id": "lane-2"}
    messages = [
        orjson.dumps({"type": "response.output_text.delta", **address, "delta": p}).decode()
        for p in pieces
    ]
    messages.append(orjson.dumps({"type": "response.output_text.done", **address,
                                  "text": masked}).decode())  # fmt: skip
    restorer = SocketRestorer(vault)
    out = [orjson.loads(m) for message in messages for m in restorer.event(message)]
    out += [orjson.loads(m) for m in restorer.flush()]
    deltas = [e["delta"] for e in out if e["type"] == "response.output_text.delta"]
    assert "".join(deltas) == TEXT
    assert not any("«" in d for d in deltas), "no piece of a placeholder reaches the client"
    assert all(e["stream_id"] == "lane-2" for e in out), "every message stays in its lane"
    assert out[-1] == {"type": "response.output_text.done", **address, "text": TEXT}
    untouched = '{"type":"response.created","response":{"id":"r1"}}'
    assert SocketRestorer(vault).event(untouched) == [untouched], "sent as it came"
