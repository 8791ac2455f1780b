"""The fake's answers and token counts, made deterministic so tests can assert exact figures.

The same request always gets the same text: ``Fake answer:`` and the first words of the
input, one output token per word (a word with the whitespace before it). Reasoning models
spend ``REASONING_TOKENS`` first. A prompt costs a quarter of its UTF-8 bytes, at least 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from fake_openai.faults import Fault

ANSWER_PREFIX: tuple[str, ...] = ("Fake", "answer:")
MAX_ECHO_WORDS = 24
"""Input words echoed after the prefix; enough for realistic ``max_output_tokens`` to bite."""
REASONING_TOKENS = 4

_DELTA = re.compile(r"\s*\S+|\s+\Z")
"""One delta (= one output token): a word with the whitespace before it, or trailing space."""

AnswerKind = Literal["text", "refusal", "function_call"]


@dataclass
class Generation:
    """The output tokens one answer consumes, after applying the caller's cap."""

    reasoning_tokens: int
    deltas: list[str]
    """The visible answer (text, refusal or call arguments), one delta per output token."""
    truncated: bool
    """Cut short by the request's output cap."""
    kind: AnswerKind = "text"
    function_name: str | None = None
    """For ``kind == "function_call"``: the function called; ``text`` holds the arguments."""
    forced_incomplete: bool = False
    """Reported as cut at the cap although it was not (``Fault.incomplete``)."""

    @property
    def output_tokens(self) -> int:
        return self.reasoning_tokens + len(self.deltas)

    @property
    def text(self) -> str:
        return "".join(self.deltas)

    @property
    def incomplete(self) -> bool:
        return self.truncated or self.forced_incomplete

    @property
    def visible(self) -> bool:
        """Whether any visible item is produced; a cap spent on reasoning leaves none."""
        return bool(self.deltas) or not self.truncated


@dataclass
class Prompt:
    """The text of a request, kept in parts so that prefix caching can compare whole parts."""

    parts: list[str] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return max(1, sum(len(part.encode()) for part in self.parts) // 4)


def is_reasoning_model(model: str) -> bool:
    """Say whether ``model`` bills reasoning tokens (o-series and gpt-5 family)."""
    return model.startswith("o") or model.startswith("gpt-5")


def answer_words(source_text: str) -> list[str]:
    """Produce the deterministic answer for an input, one word per output token."""
    return [*ANSWER_PREFIX, *source_text.split()[:MAX_ECHO_WORDS]]


def split_deltas(text: str) -> list[str]:
    """Split text into stream deltas, one per output token, that join back to ``text`` exactly.

    Each delta is a word with the whitespace before it (like real BPE tokens); whitespace after
    the last word is one more delta.
    """
    return _DELTA.findall(text)


def plan_generation(
    model: str, source_text: str, limit: int | None, fault: Fault | None = None
) -> Generation:
    """The answer to ``source_text`` (or the one ``fault`` scripts), cut at ``limit`` tokens."""
    kind: AnswerKind = "text"
    name: str | None = None
    if fault is not None and fault.refusal is not None:
        kind, deltas = "refusal", split_deltas(fault.refusal)
    elif fault is not None and fault.function_call is not None:
        kind, (name, arguments) = "function_call", fault.function_call
        deltas = split_deltas(arguments)
    elif fault is not None and fault.output_text is not None:
        deltas = split_deltas(fault.output_text)
    else:
        deltas = split_deltas(" ".join(answer_words(source_text)))
    if fault is not None and fault.delta_chars is not None:
        text, size = "".join(deltas), fault.delta_chars
        deltas = [text[i : i + size] for i in range(0, len(text), size)]
    forced = fault is not None and fault.incomplete
    # Reasoning is spent before visible text, so a tight cap eats the answer first.
    reasoning = REASONING_TOKENS if is_reasoning_model(model) else 0
    truncated = limit is not None and limit < reasoning + len(deltas)
    if limit is not None and truncated:
        reasoning = min(reasoning, limit)
        deltas = deltas[: limit - reasoning]
    return Generation(reasoning, deltas, truncated, kind, name, forced)
