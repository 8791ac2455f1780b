"""Running the suite's JavaScript clients (tests/clients/js, installed by `npm ci`) as
subprocesses: missing locally is a visible skip, missing in CI a failure (`.ci/run` installs
them)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parent / "js"


def installed() -> Path:
    """The package's node_modules, after checking that node and `npm ci` are there."""
    problem = None
    if shutil.which("node") is None:
        problem = "node is not installed (apt-get install nodejs npm)"
    elif not (JS / "node_modules" / ".package-lock.json").exists():
        problem = f"the JavaScript clients are not installed (npm ci --prefix {JS})"
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{problem}; CI must run the client suite")
        pytest.skip(problem)
    return JS / "node_modules"


def run(
    argv: Sequence[str], env: Mapping[str, str], *, timeout_s: float = 90
) -> subprocess.CompletedProcess[str]:
    """``argv`` in tests/clients/js with only ``env`` (and PATH) in its environment."""
    installed()
    return subprocess.run(
        list(argv),
        cwd=JS,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def explain(done: subprocess.CompletedProcess[str]) -> str:
    """What a failed run printed, for the assertion message."""
    return f"exit {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
