"""Waiting for what another task or process does, in one place instead of hand-written loops.

Only for what really takes time outside the test's control (a server's clock,
a TTL, a background task's next round); where the code takes a clock, a test
moves the clock instead.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


async def eventually(
    check: Callable[[], bool | Awaitable[bool]],
    timeout: float = 5.0,  # noqa: ASYNC109 - a deadline for the whole poll, not one await
    interval: float = 0.05,
    *,
    what: str = "",
) -> None:
    """Return once ``check()`` is true (awaiting it if it is a coroutine); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {what or _name(check)}")
        await asyncio.sleep(interval)


def eventually_sync(
    check: Callable[[], bool], timeout: float = 5.0, interval: float = 0.05, *, what: str = ""
) -> None:
    """`eventually` outside an event loop."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {what or _name(check)}")
        time.sleep(interval)


def _name(check: Callable[..., object]) -> str:
    return getattr(check, "__qualname__", repr(check))
