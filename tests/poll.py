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
    what: str | Callable[[], str] = "",
) -> None:
    """Return once ``check()`` is true (awaiting it if it is a coroutine); fail after ``timeout``.

    ``what`` says what was awaited, or (a function) the state it got to.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(_failure(check, timeout, what))
        await asyncio.sleep(interval)


def eventually_sync(
    check: Callable[[], bool],
    timeout: float = 5.0,
    interval: float = 0.05,
    *,
    what: str | Callable[[], str] = "",
) -> None:
    """`eventually` outside an event loop."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(_failure(check, timeout, what))
        time.sleep(interval)


def _failure(check: Callable[..., object], timeout: float, what: str | Callable[[], str]) -> str:
    """``what`` may be a function: the state at the deadline, said when it is needed."""
    said = what() if callable(what) else what
    return f"not true within {timeout} s: {said or getattr(check, '__qualname__', repr(check))}"
