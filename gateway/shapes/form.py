"""What the gateway needs from a ``multipart/form-data`` body: its small fields and file sizes.

Uploads (files, images to edit, audio to transcribe) are forwarded as the
client sent them, byte for byte; the gateway only reads the form to apply
policy (a file's purpose and size, a model, ``n``). Parsing is done by the
``multipart`` library's push parser, so a malformed body is a clean 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import multipart

from gateway.errors import BadRequest

_FIELD_MAX = 64 * 1024  # a text field larger than this is not one the gateway reads


FILES = "_files"  # the key of `Form.body`'s file sizes (never a form field of the API's)


@dataclass(slots=True)
class Form:
    fields: dict[str, str] = field(default_factory=dict)  # text fields (the first of each name)
    files: dict[str, list[int]] = field(default_factory=dict)  # file field name -> sizes

    def body(self) -> dict[str, Any]:
        """The form as the pipeline reads a request body: its fields, and its files' sizes."""
        return {**self.fields, FILES: {name: list(sizes) for name, sizes in self.files.items()}}


def file_count(body: Mapping[str, Any]) -> int:
    """How many files a form's `Form.body` carries (0 for a JSON body)."""
    files = body.get(FILES)
    return sum(len(sizes) for sizes in files.values()) if isinstance(files, dict) else 0


def file_sizes(body: Mapping[str, Any], name: str) -> list[int]:
    files = body.get(FILES)
    sizes = files.get(name) if isinstance(files, dict) else None
    return list(sizes) if isinstance(sizes, list) else []


def boundary_of(content_type: str) -> str | None:
    kind, options = multipart.parse_options_header(content_type)
    if kind != "multipart/form-data":
        return None
    boundary = options.get("boundary")
    return boundary or None


def parse_form(body: bytes, content_type: str) -> Form:
    """The form's text fields and file sizes; refuses a body that is not a valid form."""
    boundary = boundary_of(content_type)
    if boundary is None:
        raise BadRequest(
            "This endpoint takes a multipart/form-data body.", code="invalid_content_type"
        )
    form = Form()
    current: multipart.MultipartSegment | None = None
    text: list[bytes] = []
    try:
        with multipart.PushMultipartParser(boundary, len(body), max_header_count=16) as parser:
            for event in parser.parse(body):
                if isinstance(event, multipart.MultipartSegment):
                    current, text = event, []
                elif event and current is not None and current.filename is None:
                    if sum(map(len, text)) + len(event) <= _FIELD_MAX:
                        text.append(event)
                elif event is None and current is not None:
                    _finish(form, current, b"".join(text))
                    current = None
    except multipart.MultipartError as exc:
        raise BadRequest(f"The multipart body is malformed: {exc}.", code="invalid_body") from None
    return form


def _finish(form: Form, segment: multipart.MultipartSegment, text: bytes) -> None:
    name = segment.name or ""
    if segment.filename is not None:
        form.files.setdefault(name, []).append(segment.size)
    elif name not in form.fields:
        form.fields[name] = text.decode("utf-8", "replace")


def with_field(raw: bytes, name: str, value: str) -> bytes:
    """The form with one more text field, before its closing boundary (the body's first
    line names the boundary: ``--<boundary>``)."""
    first = raw.split(b"\r\n", 1)[0]
    closing = raw.rfind(first + b"--")
    if not first.startswith(b"--") or closing == -1:
        raise BadRequest("The multipart body is malformed.", code="invalid_body")
    part = (
        first + b'\r\nContent-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\n'
        + value.encode() + b"\r\n"
    )  # fmt: skip
    return raw[:closing] + part + raw[closing:]
