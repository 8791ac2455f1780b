"""Reading a ``multipart/form-data`` body: the uploads (files, images, audio) arrive this way.

The middleware has already read the whole body, so it is parsed from those bytes rather than
from aiohttp's (consumed) stream.
"""

from __future__ import annotations

import email.message
import email.parser
from dataclasses import dataclass, field

from aiohttp import web

from fake_openai.wire import ApiError, missing_parameter


@dataclass(frozen=True)
class Part:
    """One field of the form; ``filename`` is set for file fields."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.data.decode(errors="replace")


@dataclass
class Form:
    """The fields of a form, in the order they came."""

    parts: list[Part] = field(default_factory=list)

    def text(self, name: str) -> str | None:
        """The last value of the field ``name`` as text, or None if absent."""
        found = [part for part in self.parts if part.name == name]
        return found[-1].text if found else None

    def all(self, *names: str) -> list[Part]:
        """Every part named one of ``names`` (e.g. ``image`` and ``image[]``), in order."""
        return [part for part in self.parts if part.name in names]

    def require_file(self, name: str) -> Part:
        """The file field ``name``, or OpenAI's 400 for a missing one."""
        found = self.all(name)
        if not found:
            raise missing_parameter(name)
        return found[-1]

    def require_text(self, name: str) -> str:
        """The text field ``name``, or OpenAI's 400 for a missing one."""
        value = self.text(name)
        if value is None or value == "":
            raise missing_parameter(name)
        return value


async def read_form(request: web.Request) -> Form:
    """The request's multipart form, or the 400 OpenAI sends for any other body."""
    if request.content_type != "multipart/form-data":
        raise ApiError(
            400,
            "Invalid Content-Type header "
            f"({request.content_type}), expected multipart/form-data. (HINT: If you're "
            "using curl, you can pass -H 'Content-Type: multipart/form-data')",
        )
    boundary = _boundary(request.headers.get("Content-Type", ""))
    body = await request.read()
    form = Form()
    # Split on the delimiter by hand: parts hold binary data that must come back byte for byte.
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            raise ApiError(400, "Could not parse the multipart/form-data body.")
        part = _part(head.decode(errors="replace"), data.removesuffix(b"\r\n"))
        if part is not None:
            form.parts.append(part)
    return form


def _boundary(content_type: str) -> bytes:
    message = email.message.Message()
    message["Content-Type"] = content_type
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise ApiError(400, "Could not parse the multipart/form-data body.")
    return boundary.encode()


def _part(head: str, data: bytes) -> Part | None:
    headers = email.parser.HeaderParser().parsestr(head + "\r\n\r\n")
    name = headers.get_param("name", header="content-disposition")
    if not isinstance(name, str):
        return None
    filename = headers.get_param("filename", header="content-disposition")
    content_type = headers.get_content_type() if headers.get("Content-Type") else None
    return Part(name, data, filename if isinstance(filename, str) else None, content_type)
