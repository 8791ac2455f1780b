"""The Dockerfile passes hadolint; tests/deploy/test_image.py builds and runs it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_dockerfile_is_lint_clean_and_runs_as_non_root() -> None:
    hadolint = shutil.which("hadolint") or str(
        Path(__import__("sys").executable).parent / "hadolint"
    )
    done = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    text = (ROOT / "Dockerfile").read_text()
    assert "USER 10001:10001" in text, "uid and gid as Kubernetes sets them"
    assert "HEALTHCHECK" in text
    assert "uv sync --frozen" in text, "the image installs the locked dependencies"
