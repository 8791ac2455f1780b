"""The repair turns: what the same model is shown when its structured output failed."""

from __future__ import annotations

from typing import Any

from gateway.config import compile_config, parse_config
from gateway.explain import explain
from gateway.metering.outcome import Outcome
from gateway.pipeline.repair import INSTRUCTION, amendment
from gateway.shapes.sse import StreamFacts

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
RESPONSES_FORMAT = {"text": {"format": {"type": "json_schema", "name": "p", "schema": SCHEMA}}}
CHAT_FORMAT = {"response_format": {"type": "json_schema", "json_schema": {"schema": SCHEMA}}}


def answered(text: str) -> Outcome:
    message = {"type": "message", "content": [{"type": "output_text", "text": text}]}
    return Outcome(status=200, body={"output": [{"type": "reasoning"}, message]})


def chat_answered(text: str) -> Outcome:
    return Outcome(status=200, body={"choices": [{"message": {"content": text}}]})


def asked(amend: Any, body: dict[str, Any], key: str) -> list[Any]:
    amend(body)
    turns: list[Any] = body[key]
    return turns


def test_a_string_input_becomes_a_conversation_ending_in_the_repair_turns() -> None:
    amend = amendment("responses", answered("Paris"), RESPONSES_FORMAT, "invalid_json")
    turns = asked(amend, {"input": "Where?", **RESPONSES_FORMAT}, "input")
    assert turns[:2] == [
        {"role": "user", "content": "Where?"},
        {"role": "assistant", "content": "Paris"},
    ]
    assert turns[2]["role"] == "user"
    ask = turns[2]["content"]
    head, tail = INSTRUCTION.split("{error}")
    assert ask.startswith(head)
    assert ask.endswith(tail)
    assert "line 1 column 1 (char 0)" in ask, "the parser's own words, where it failed"


def test_list_input_and_chat_messages_keep_every_earlier_turn() -> None:
    earlier = [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    amend = amendment("responses", answered('{"town": 1}'), RESPONSES_FORMAT, "schema_mismatch")
    turns = asked(amend, {"input": list(earlier)}, "input")
    assert turns[:2] == earlier
    assert len(turns) == 4
    assert "'city' is a required property" in turns[3]["content"]
    amend = amendment("chat.completions", chat_answered('{"city": 7}'), CHAT_FORMAT, None)
    turns = asked(amend, {"messages": list(earlier)}, "messages")
    assert turns[:2] == earlier
    assert turns[2] == {"role": "assistant", "content": '{"city": 7}'}
    assert "7 is not of type 'string' (at /city)" in turns[3]["content"]


def test_a_buffered_stream_answer_and_a_long_error_are_read_too() -> None:
    facts = StreamFacts(response=answered("x" * 1000).body)
    amend = amendment("responses", Outcome(status=200, facts=facts), {}, "invalid_json")
    turns = asked(amend, {"input": "Where?"}, "input")
    assert turns[1]["content"] == "x" * 1000, "the whole answer is shown"
    assert len(turns[2]["content"]) < len(INSTRUCTION) + 200


def test_route_explain_says_broken_json_is_repaired() -> None:
    config = compile_config(
        parse_config(
            """
models: {small: {}, large: {}}
routes:
  fixing: {ladder: [small, large], on_invalid_json: [repair, escalate]}
  plain: {ladder: [small, large]}
tenants: {t: {models: ["*"]}}
accounting: {allow_unpriced: true}
"""
        ),
        {},
    )
    said, _ = explain(config, "t", b'{"model": "fixing", "input": "hi"}', hint=None, split_key="k")
    assert "broken JSON:  repaired by the same model once, per rung" in said
    said, _ = explain(config, "t", b'{"model": "plain", "input": "hi"}', hint=None, split_key="k")
    assert "broken JSON" not in said
