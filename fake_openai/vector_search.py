"""How a vector store's files are chunked, filtered by attributes and scored against a query,
deterministically, so tests can predict every search result.

Chunks: a file's text split at blank lines into paragraphs, each paragraph cut further into
runs of whole words of at most ``max_chunk_size_tokens`` tokens (a token is 4 UTF-8 bytes, as
for prompts; 800 by default). A chunk's score for a query is the fraction of the query's
distinct words (lower-cased letters and digits) that occur in the chunk; chunks scoring 0 are
not results. Ties keep file order, then chunk order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fake_openai.wire import ApiError, JsonObject

DEFAULT_CHUNK_TOKENS = 800
DEFAULT_OVERLAP_TOKENS = 400
BYTES_PER_TOKEN = 4
_WORD = re.compile(r"[a-z0-9]+")


def static_strategy(max_tokens: int, overlap: int) -> JsonObject:
    """A ``chunking_strategy`` object as the API reports it."""
    return {
        "type": "static",
        "static": {"max_chunk_size_tokens": max_tokens, "chunk_overlap_tokens": overlap},
    }


def resolve_strategy(raw: Any) -> JsonObject:
    """The strategy a request's ``chunking_strategy`` comes to (``auto`` = 800/400)."""
    if raw is None or (isinstance(raw, dict) and raw.get("type") == "auto"):
        return static_strategy(DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP_TOKENS)
    static = raw.get("static") if isinstance(raw, dict) else None
    if isinstance(raw, dict) and raw.get("type") == "static" and isinstance(static, dict):
        size, overlap = static.get("max_chunk_size_tokens"), static.get("chunk_overlap_tokens")
        if (
            isinstance(size, int)
            and isinstance(overlap, int)
            and 100 <= size <= 4096
            and 0 <= overlap <= size // 2
        ):
            return static_strategy(size, overlap)
    raise ApiError(
        400,
        "Invalid 'chunking_strategy': expected {'type': 'auto'} or {'type': 'static', "
        "'static': {'max_chunk_size_tokens': 100..4096, 'chunk_overlap_tokens': at most half}}.",
        param="chunking_strategy",
        code="invalid_value",
    )


def chunks(text: str, max_tokens: int = DEFAULT_CHUNK_TOKENS) -> list[str]:
    """The chunks of ``text``: paragraphs, cut into word runs of at most ``max_tokens``."""
    limit = max_tokens * BYTES_PER_TOKEN
    found: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        current: list[str] = []
        size = 0
        for word in paragraph.split():
            cost = len(word.encode()) + (1 if current else 0)
            if current and size + cost > limit:
                found.append(" ".join(current))
                current, size = [], 0
                cost = len(word.encode())
            current.append(word)
            size += cost
        if current:
            found.append(" ".join(current))
    return found


def words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def score(query_words: set[str], chunk: str) -> float:
    """The fraction of the query's words found in ``chunk``."""
    if not query_words:
        return 0.0
    return round(len(query_words & words(chunk)) / len(query_words), 4)


@dataclass(frozen=True)
class Hit:
    """One search result before it is put on the wire."""

    file_id: str
    filename: str
    attributes: JsonObject | None
    text: str
    score: float

    def wire(self) -> JsonObject:
        return {
            "file_id": self.file_id,
            "filename": self.filename,
            "score": self.score,
            "attributes": self.attributes,
            "content": [{"type": "text", "text": self.text}],
        }


def ranked(hits: Iterable[Hit], threshold: float, limit: int) -> list[Hit]:
    """The best ``limit`` hits scoring above 0 and at least ``threshold``, best first."""
    kept = [hit for hit in hits if hit.score > 0 and hit.score >= threshold]
    return sorted(kept, key=lambda hit: -hit.score)[:limit]


def matches(filters: Any, attributes: JsonObject | None) -> bool:
    """Whether ``attributes`` pass a comparison or compound filter (None passes all)."""
    if filters is None:
        return True
    if not isinstance(filters, dict):
        raise _bad_filter()
    kind = filters.get("type")
    if kind in ("and", "or"):
        parts = filters.get("filters")
        if not isinstance(parts, list):
            raise _bad_filter()
        results = [matches(part, attributes) for part in parts]
        return all(results) if kind == "and" else any(results)
    key, value = filters.get("key"), filters.get("value")
    if not isinstance(key, str):
        raise _bad_filter()
    actual = (attributes or {}).get(key)
    return _compare(kind, actual, value)


def _compare(kind: Any, actual: Any, value: Any) -> bool:
    if kind == "eq":
        return bool(actual == value)
    if kind == "ne":
        return bool(actual != value)
    if kind in ("in", "nin"):
        if not isinstance(value, list):
            raise _bad_filter()
        member = actual in value
        return member if kind == "in" else not member
    if kind in ("gt", "gte", "lt", "lte"):
        if not isinstance(actual, int | float) or not isinstance(value, int | float):
            return False
        left, right = float(actual), float(value)
        return {
            "gt": left > right,
            "gte": left >= right,
            "lt": left < right,
            "lte": left <= right,
        }[kind]
    raise _bad_filter()


def _bad_filter() -> ApiError:
    return ApiError(
        400,
        "Invalid 'filters': expected a comparison filter (key, type, value) or a compound "
        "filter (type 'and' or 'or', filters).",
        param="filters",
        code="invalid_value",
    )
