"""Refusals worded so an operator can read them: amounts with the digits that tell them apart."""

from __future__ import annotations

import pytest

from gateway.quota.errors import usd


@pytest.mark.parametrize(
    ("nanos", "shown"),
    [
        (0, "$0.00"),
        (1_500_000_000, "$1.50"),
        (1_234_567_890_123, "$1,234.57"),
        (12_300_000, "$0.0123"),
        (100_000, "$0.000100"),  # was "$0.0001", as were 60_000 and 140_000
        (60_000, "$0.0000600"),
        (140_000, "$0.000140"),
        (1, "$0.000000001"),
    ],
)
def test_small_amounts_keep_three_significant_digits(nanos: int, shown: str) -> None:
    assert usd(nanos) == shown
