"""A bounded soak on a real `gateway serve` (bench/soak.py runs the full 100k-call one).

Behaviour only: the RSS growth it measures is a benchmark figure that bench/soak.py reports
against its budget (bench/README.md, "Soak and slow reader").
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SOAK = Path(__file__).resolve().parents[1] / "bench" / "soak.py"
REQUESTS = 6000


def test_a_mixed_load_loses_nothing_and_leaks_nothing() -> None:
    done = subprocess.run(
        [sys.executable, str(SOAK), "--requests", str(REQUESTS), "--warmup", "1000", "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["statuses"] == {"200": REQUESTS}, "no error under a load below capacity"
    assert figures["ledger_rows"] == REQUESTS, "every call in the ledger, once"
    assert figures["fds_end"] <= figures["fds_after_warmup"] + 2, "no leaked sockets"
    burst = figures["over_limit_burst"]
    assert set(burst) == {"200", "429"}, "above a limit: clean 429s, no timeouts or 5xx"
    assert sum(burst.values()) == 200
