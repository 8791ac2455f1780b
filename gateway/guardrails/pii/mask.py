"""Placeholders for what was found, and putting the values back in an answer.

A value becomes ``«KIND_n»`` (``n`` counts per kind within one request), the
same value always the same placeholder, so the model sees consistent
references ("write to «EMAIL_1»"). The vault that maps them back lives in the
request's memory only: it is never logged, stored or sent anywhere.
"""

from __future__ import annotations

import json
import os
import re

from gateway.guardrails.pii.detect import Detector, Kind

OPEN, CLOSE = "\u00ab", "\u00bb"  # « »
# «KIND_n» or, when the request itself contained «, «KIND_n_nonce» (see Vault).
PLACEHOLDER = re.compile(OPEN + r"([A-Z]{2,6}_\d{1,4}(?:_[0-9a-f]{4})?)" + CLOSE)
# What the start of a placeholder can look like while a stream is still cut inside it.
# The same inside JSON text written ASCII-only (a tool call's arguments).
_ESCAPED = re.compile(r"\\u00ab([A-Z]{2,6}_\d{1,4}(?:_[0-9a-f]{4})?)\\u00bb", re.I)
_PREFIX = re.compile(OPEN + r"[A-Z]{0,6}(?:_\d{0,4}(?:_[0-9a-f]{0,4})?)?")
_LONGEST = len("«SECRET_9999_abcd»")


class Vault:
    """One request's placeholders and the values they stand for.

    ``nonced``: the request already holds text shaped like a placeholder, so the
    gateway's own carry a random suffix and a literal one is never "restored".
    """

    __slots__ = ("_by_placeholder", "_by_value", "_counts", "_suffix")

    def __init__(self, *, nonced: bool = False) -> None:
        self._by_value: dict[str, str] = {}
        self._by_placeholder: dict[str, str] = {}
        self._counts: dict[Kind, int] = {}
        self._suffix = "_" + os.urandom(2).hex() if nonced else ""

    def placeholder(self, kind: Kind, value: str) -> str:
        known = self._by_value.get(value)
        if known is not None:
            return known
        n = self._counts[kind] = self._counts.get(kind, 0) + 1
        name = f"{kind}_{n}{self._suffix}"
        self._by_value[value] = placeholder = f"{OPEN}{name}{CLOSE}"
        self._by_placeholder[name] = value
        return placeholder

    def value_of(self, name: str) -> str | None:
        return self._by_placeholder.get(name)

    def __bool__(self) -> bool:
        return bool(self._by_placeholder)


def mask_text(detector: Detector, text: str, vault: Vault) -> tuple[str, list[Kind]]:
    """The text with each finding replaced by its placeholder, and the kinds found."""
    found = detector.find(text)
    if not found:
        return text, []
    out: list[str] = []
    pos = 0
    for f in found:
        out.append(text[pos : f.start])
        out.append(vault.placeholder(f.kind, text[f.start : f.end]))
        pos = f.end
    out.append(text[pos:])
    return "".join(out), [f.kind for f in found]


def restore(text: str, vault: Vault, *, escape: bool = False) -> str:
    """Placeholders back to their values; unknown ones (the model's inventions) stay.

    ``escape``: the text is JSON source (a tool call's arguments), so a value is put
    in as a JSON string's content and a quote in it cannot end the string.
    """

    def value(m: re.Match[str]) -> str:
        found = vault.value_of(m.group(1))
        if found is None:
            return m.group(0)
        return _json_escaped(found) if escape else found

    if escape and "\\u00" in text:
        text = _ESCAPED.sub(value, text)
    return PLACEHOLDER.sub(value, text) if OPEN in text else text


def _json_escaped(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


class StreamRestorer:
    """Restores one stream channel's text deltas, even when a placeholder is cut across two.

    It holds back only a tail that starts at the last ``«`` and could still become a
    placeholder (at most 17 characters); everything else goes out at once.
    """

    __slots__ = ("_escape", "_held", "_vault")

    def __init__(self, vault: Vault, *, escape: bool = False) -> None:
        self._vault, self._escape, self._held = vault, escape, ""

    def feed(self, delta: str) -> str:
        text = self._held + delta
        i = text.rfind(OPEN)
        if i == -1 or len(text) - i >= _LONGEST or not _PREFIX.fullmatch(text, i):
            self._held = ""
            return restore(text, self._vault, escape=self._escape)
        self._held = text[i:]
        return restore(text[:i], self._vault, escape=self._escape)

    def flush(self) -> str:
        """What is held at the end of the channel, as it is (``«EMA`` stays ``«EMA``)."""
        text, self._held = self._held, ""
        return restore(text, self._vault, escape=self._escape)
