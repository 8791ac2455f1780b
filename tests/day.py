"""The day the gateway judges deprecations on, pinned for a test.

`gateway.routing.deprecation.today` is the one place the gateway reads the real
date for sunsets and ``from`` dates; a test whose outcome depends on which of
them have passed pins it, so it means the same on any real date (the gateway of
`harness.GatewayServer` runs in this process, so it sees the pinned day too).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from gateway.routing import deprecation


class Day:
    """A settable clock: a test moves it across a date instead of waiting for it."""

    def __init__(self, day: dt.date) -> None:
        self.day = day

    def __call__(self) -> dt.date:
        return self.day


@contextmanager
def pinned_day(day: dt.date) -> Iterator[Day]:
    clock = Day(day)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(deprecation, "today", clock)
        yield clock
