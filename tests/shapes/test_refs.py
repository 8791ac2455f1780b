"""Every id a request names is found, wherever the API lets a body name one."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import BadRequest
from gateway.shapes.refs import (
    CONTAINER,
    CONVERSATION,
    FILE,
    ITEM,
    RESPONSE,
    VECTOR_STORE,
    Kind,
    chat_refs,
    field_refs,
    responses_refs,
)


def named(refs: Any) -> list[tuple[Kind, str]]:
    return [(r.kind, r.object_id) for r in refs]


def test_a_responses_body_names_every_kind_it_can() -> None:
    body = {
        "previous_response_id": "resp_1",
        "conversation": {"id": "conv_1"},
        "input": [
            {"type": "item_reference", "id": "msg_1"},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "see file"},
                    {"type": "input_file", "file_id": "file-1"},
                    {"type": "input_image", "file_id": "file-2"},
                ],
            },
        ],
        "tools": [
            {"type": "file_search", "vector_store_ids": ["vs_1", "vs_2"]},
            {"type": "code_interpreter", "container": "cntr_1"},
            {"type": "code_interpreter", "container": {"type": "auto", "file_ids": ["file-3"]}},
        ],
    }
    assert named(responses_refs(body)) == [
        (RESPONSE, "resp_1"),
        (CONVERSATION, "conv_1"),
        (ITEM, "msg_1"),
        (FILE, "file-1"),
        (FILE, "file-2"),
        (VECTOR_STORE, "vs_1"),
        (VECTOR_STORE, "vs_2"),
        (CONTAINER, "cntr_1"),
        (FILE, "file-3"),
    ]


def test_a_conversation_named_by_its_id_alone() -> None:
    assert named(responses_refs({"conversation": "conv_9", "input": "hi"})) == [
        (CONVERSATION, "conv_9")
    ]


def test_a_previous_response_that_is_not_the_callers_is_a_400_as_upstream() -> None:
    (ref,) = responses_refs({"previous_response_id": "resp_x"})
    refusal = ref.refused()
    assert (refusal.status, refusal.code) == (400, "previous_response_not_found")


def test_a_malformed_previous_response_id_is_refused() -> None:
    with pytest.raises(BadRequest):
        list(responses_refs({"previous_response_id": 7}))


def test_other_kinds_are_missing_objects_404() -> None:
    err = FILE.not_found("file-abc")
    assert (err.status, err.message) == (404, "No such File object: file-abc")


def test_chat_file_parts() -> None:
    body = {
        "messages": [
            {"role": "user", "content": [{"type": "file", "file": {"file_id": "file-7"}}]},
            {"role": "user", "content": "plain text"},
        ]
    }
    assert named(chat_refs(body)) == [(FILE, "file-7")]


def test_field_refs_read_one_id_or_a_list() -> None:
    find = field_refs(FILE, "file_id", "file_ids")
    assert named(find({"file_id": "file-a", "file_ids": ["file-b", 3]})) == [
        (FILE, "file-a"),
        (FILE, "file-b"),
    ]
