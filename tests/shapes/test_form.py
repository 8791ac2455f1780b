"""The gateway reads a multipart form's small fields and file sizes, as httpx (the SDK) sends it."""

from __future__ import annotations

import httpx
import pytest

from gateway.errors import BadRequest
from gateway.shapes.form import parse_form, with_field


def encoded(data: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://x/v1/files", data=data, files=files)
    return request.read(), request.headers["content-type"]


def test_fields_and_file_sizes() -> None:
    body, content_type = encoded({"purpose": "assistants"}, {"file": ("a.txt", b"x" * 5000)})
    form = parse_form(body, content_type)
    assert form.fields == {"purpose": "assistants"}
    assert form.files == {"file": [5000]}


def test_repeated_file_fields_are_all_counted() -> None:
    request = httpx.Request(
        "POST",
        "http://x/v1/images/edits",
        data={"model": "gpt-image-1"},
        files=[("image[]", ("a.png", b"1" * 10)), ("image[]", ("b.png", b"2" * 20))],
    )
    form = parse_form(request.read(), request.headers["content-type"])
    assert form.files == {"image[]": [10, 20]}
    assert form.fields["model"] == "gpt-image-1"


def test_json_is_not_a_form() -> None:
    with pytest.raises(BadRequest) as err:
        parse_form(b"{}", "application/json")
    assert err.value.code == "invalid_content_type"


def test_a_truncated_form_is_a_400() -> None:
    body, content_type = encoded({"purpose": "batch"}, {"file": ("a.jsonl", b"{}\n" * 100)})
    with pytest.raises(BadRequest) as err:
        parse_form(body[: len(body) // 2], content_type)
    assert err.value.code == "invalid_body"


def test_a_field_added_to_a_form_is_read_back_and_the_file_is_unchanged() -> None:
    body, content_type = encoded({"prompt": "a hat"}, {"image": ("a.png", b"\x89PNG" + b"1" * 300)})
    grown = with_field(body, "model", "gpt-image-1")
    form = parse_form(grown, content_type)
    assert form.fields == {"prompt": "a hat", "model": "gpt-image-1"}
    assert form.files == {"image": [304]}


def test_a_field_cannot_be_added_to_a_body_that_is_not_a_form() -> None:
    with pytest.raises(BadRequest):
        with_field(b'{"model": "x"}', "model", "y")
