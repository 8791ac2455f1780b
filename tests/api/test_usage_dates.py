"""Usage reports take days said in words, read in the gateway's accounting time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.api.usage import parse_when
from gateway.errors import BadRequest

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 5, 0, 30, tzinfo=ZoneInfo("UTC"))  # already the 5th in Berlin


@pytest.mark.parametrize(
    ("text", "day"),
    [("today", 5), ("Yesterday", 4), ("month", 1), ("7d", 28), ("0d", 5), ("2026-12-03", 3)],
)
def test_days_in_words_are_local_midnights(text: str, day: int) -> None:
    when = parse_when(text, BERLIN, "from", now=NOW)
    assert (when.day, when.hour, when.tzinfo) == (day, 0, BERLIN)
    assert when.month == (11 if day == 28 else 12)


def test_anything_else_is_refused_with_what_is_accepted() -> None:
    with pytest.raises(BadRequest) as err:
        parse_when("last week", BERLIN, "from", now=NOW)
    assert err.value.param == "from"
