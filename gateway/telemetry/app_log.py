"""The gateway's own log lines (not the access log): JSON for collectors, text for people.

A log collector reads one JSON object a line, as the access log writes them; a
person at a terminal reads text. So the format follows where stderr goes: JSON
unless it is a terminal. ``GATEWAY_LOG_FORMAT`` (or ``--log-format``) forces
``json`` or ``text``; ``auto`` is the default.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Literal, TextIO

import orjson

LogFormat = Literal["json", "text"]
FORMATS = ("auto", "json", "text")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonLines(logging.Formatter):
    """One JSON object a line: ts (UTC, ISO 8601), level, logger, message, the record's
    ``fields`` (passed as ``extra={"fields": {...}}``) and, after an exception, its traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update((k, v) for k, v in fields.items() if k not in line)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return orjson.dumps(line, default=str).decode()


def resolve_format(wanted: str, stream: TextIO) -> LogFormat:
    """``json`` or ``text`` as asked; ``auto``: text on a terminal, JSON otherwise."""
    if wanted == "auto":
        isatty = getattr(stream, "isatty", None)
        return "text" if callable(isatty) and isatty() else "json"
    if wanted not in FORMATS:
        raise ValueError(f"log format {wanted!r}: use {', '.join(FORMATS)}")
    return "json" if wanted == "json" else "text"


def configure_logging(level: str, wanted: str = "auto", stream: TextIO | None = None) -> LogFormat:
    """The root logger to ``stream`` (stderr) in the resolved format; the access log to
    stdout as it is (its lines are JSON already). Returns the format chosen."""
    out = stream if stream is not None else sys.stderr
    fmt = resolve_format(wanted, out)
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonLines() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    access = logging.getLogger("gateway.access")
    if not access.handlers:
        plain = logging.StreamHandler(sys.stdout)
        plain.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(plain)
    access.propagate = False
    return fmt
