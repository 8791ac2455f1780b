"""Find PII and secrets in text: compiled patterns, each confirmed by a check.

Hand-written rules won over Presidio (pattern recognizers, no NLP model) and
detect-secrets on the same labelled sets: ~0.3 ms for a 2 KB chat against
3-5 ms, no spaCy in the process, and keys of today's formats (``sk-proj-``,
``github_pat_``) that neither library knows. Two things keep it cheap: a rule
with a literal in every match runs only when that literal is in the text
(``str.__contains__`` is far cheaper than a regex pass), and the rules for
digit ids run only in small windows around the runs of digits one cheap
pattern finds, instead of over the whole text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from gateway.guardrails.pii import checks as c

Kind = Literal["EMAIL", "PHONE", "CARD", "IBAN", "NATID", "IP", "SECRET"]
KINDS: tuple[Kind, ...] = ("EMAIL", "PHONE", "CARD", "IBAN", "NATID", "IP", "SECRET")


@dataclass(frozen=True, slots=True)
class Rule:
    kind: Kind
    pattern: re.Pattern[str]
    check: c.Check | None = None
    group: int = 0  # the part of the match that is the value (a key's value, not its name)
    gate: tuple[str, ...] = ()  # runs only when one of these is in the text
    digits: bool = False  # runs only around runs of digits
    caps: bool = False  # runs only after two capitals and two digits (IBAN, NINO, CF)


@dataclass(frozen=True, slots=True)
class Found:
    start: int
    end: int
    kind: Kind


_KEYWORD = (
    r"(?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key"
    r"|client[_-]?secret|auth)"
)
_KEYWORD_GATE = tuple(
    w for k in ("pass", "pwd", "secret", "token", "key", "auth") for w in (k, k.upper(), k.title())
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"

# Earlier rules win where matches overlap: secrets first, as they are the most specific.
RULES: tuple[Rule, ...] = (
    Rule("SECRET", re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
        r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    ), gate=("PRIVATE KEY",)),
    Rule("SECRET", re.compile(
        r"(?<![\w-])sk-(?:proj-|svcacct-|admin-|ant-(?:api\d\d-)?)?[A-Za-z0-9_-]{32,}"
    ), c.high_entropy, gate=("sk-",)),
    Rule("SECRET", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
         gate=("AKIA", "ASIA", "ABIA", "ACCA")),
    Rule("SECRET", re.compile(
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{80,})\b"
    ), gate=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    Rule("SECRET", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b"), gate=("glpat-",)),
    Rule("SECRET", re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{10,}"), gate=("xox",)),
    Rule("SECRET", re.compile(
        r"https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+"
    ), gate=("hooks.slack",)),
    Rule("SECRET", re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}\b"),
         gate=("k_live_", "k_test_")),
    Rule("SECRET", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), gate=("AIza",)),
    Rule("SECRET", re.compile(
        r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    ), c.valid_jwt, gate=("eyJ",)),
    Rule("SECRET", re.compile(
        r"(?i)(?<![a-z])" + _KEYWORD + r"\w*[\"']?\s*[:=]\s*[\"']?([^\s\"',;]{8,200})"
    ), c.assigned_secret_ok, group=1, gate=_KEYWORD_GATE),
    Rule("SECRET", re.compile(r"(?i)\b[a-z][a-z0-9+.-]{1,15}://[^\s:/@]{1,64}:([^\s@/]{3,128})@"),
         c.not_placeholder, group=1, gate=("://",)),
    Rule("EMAIL", re.compile(
        r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
        r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b"
    ), c.not_asset, gate=("@",)),
    Rule("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"), c.valid_iban, caps=True),
    Rule("CARD", re.compile(r"(?<![\d.-])\d(?:[ -]?\d){12,18}(?![\d.])"), c.valid_card,
         digits=True),
    # US SSN, dashed only: it has no check digit, and a bare 9-digit number is too common.
    Rule("NATID", re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b"),
         digits=True),
    Rule("NATID", re.compile(
        r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
    ), c.nino_ok, caps=True),  # UK National Insurance number
    Rule("NATID", re.compile(r"\b\d{8}-?[A-HJ-NP-TV-Z]\b"), c.DNI, digits=True),
    Rule("NATID", re.compile(r"\b[XYZ]-?\d{7}-?[A-HJ-NP-TV-Z]\b"), c.NIE, digits=True),
    Rule("NATID", re.compile(r"\b[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]\b"),
         c.CODICE_FISCALE, caps=True),
    Rule("NATID", re.compile(
        r"\b[12] ?\d{2} ?(?:0[1-9]|1[0-2]) ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}\b"
    ), c.NIR, digits=True),
    Rule("NATID", re.compile(r"\b\d{11}\b"), c.ID11, digits=True),
    Rule("NATID", re.compile(r"\b\d{9}\b"), c.ID9, digits=True),
    Rule("PHONE", re.compile(
        r"(?<![\w+])(?:\+|00)[1-9]\d{0,2}(?:[ .-]?\(?\d{1,5}\)?){2,6}(?!\w)"
    ), c.phone_digits_ok, digits=True),
    Rule("PHONE", re.compile(r"(?<![\w.-])\(?\b[2-9]\d{2}\)?[ .-]\d{3}[ .-]\d{4}\b(?![.-]\d)"),
         digits=True),  # NANP, national format
    Rule("IP", re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\w|\.\d)"), c.ipv4_ok,
         digits=True),
    Rule("IP", re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])"),
         c.ipv6_ok, gate=(":",)),
)  # fmt: skip

# Every match of a digits rule holds a run like this one; of a caps rule, starts near this.
_DIGIT_RUN = re.compile(r"\d[\d \-.()/]{4,}\d")
_CAPS_DIGITS = re.compile(r"[A-Z]{2} ?\d\d")
_CAPS_REACH = 4 + 30 * 2  # the longest IBAN match: country, check digits, 30 spaced characters


class Detector:
    """The rules of some kinds, compiled once per tenant policy and shared by its requests."""

    def __init__(self, kinds: frozenset[Kind] = frozenset(KINDS)) -> None:
        ranked = [(rank, rule) for rank, rule in enumerate(RULES) if rule.kind in kinds]
        self._full = [(rank, rule) for rank, rule in ranked if not (rule.digits or rule.caps)]
        self._windowed = [(rank, rule) for rank, rule in ranked if rule.digits]
        self._caps = [(rank, rule) for rank, rule in ranked if rule.caps]

    def find(self, text: str) -> list[Found]:
        """Non-overlapping findings in text order; where two overlap the earlier rule wins."""
        hits: set[tuple[int, int, int, Kind]] = set()
        for rank, rule in self._full:
            if rule.gate and not any(g in text for g in rule.gate):
                continue
            scan_rule(rule, rank, text, 0, len(text), hits)
        for windowed, windows in ((self._windowed, _windows), (self._caps, _caps_windows)):
            if windowed:
                for start, end in windows(text):
                    for rank, rule in windowed:
                        scan_rule(rule, rank, text, start, end, hits)
        return resolve(hits)


def resolve(hits: set[tuple[int, int, int, Kind]]) -> list[Found]:
    """(start, end, rank, kind) hits to non-overlapping findings: the earliest start, then the
    earliest rule, then the longest match wins."""
    found: list[Found] = []
    last = -1
    for start, _rank, length, kind in sorted((h[0], h[2], -(h[1] - h[0]), h[3]) for h in hits):
        if start >= last:
            found.append(Found(start, start - length, kind))
            last = start - length
    return found


def scan_rule(
    rule: Rule, rank: int, text: str, pos: int, end: int, hits: set[tuple[int, int, int, Kind]]
) -> None:
    for m in rule.pattern.finditer(text, pos, end):
        start, stop = m.span(rule.group)
        if start >= 0 and (rule.check is None or rule.check(text[start:stop], text, start)):
            hits.add((start, stop, rank, rule.kind))


def _windows(text: str) -> list[tuple[int, int]]:
    """Spans around each run of digits, wide enough for a prefix (``+``, ``AB``) and
    ending past the word they end in, so ``\\b`` and lookarounds see what they would."""
    return [_widened(text, run.start() - 4, run.end() + 3) for run in _DIGIT_RUN.finditer(text)]


def _caps_windows(text: str) -> list[tuple[int, int]]:
    """Spans from just before each capital pair with two digits to the longest IBAN after it
    (a codice fiscale's pair is its 5th and 6th letter)."""
    return [_widened(text, m.start() - 4, m.start() + _CAPS_REACH + 1)
            for m in _CAPS_DIGITS.finditer(text)]  # fmt: skip


def _widened(text: str, start: int, end: int) -> tuple[int, int]:
    n = len(text)
    start, end = max(0, start), min(n, end)
    limit = min(n, end + 40)
    while end < limit and (text[end - 1].isalnum() or text[end - 1] == "_"):
        end += 1
    return start, end
