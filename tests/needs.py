"""A server or tool a test needs: skipped where it is missing, a failure in CI (which installs it).

`.ci/run` installs every such package, so a missing one there is a broken CI, not a skip.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(what: str, package: str) -> NoReturn:
    message = f"{what} is not installed (apt-get install {package})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run the tests that need it")
    pytest.skip(message)
