"""Waiting for what another task or process does, in one place instead of hand-written loops.

Only for what really takes time outside the test's control (a server's clock,
a TTL, a background task's next round); where the code takes a clock, a test
moves the clock instead.

`eventually` and `eventually_sync` fail the test at the deadline. `within` and
`within_sync` say whether the check came true, for a caller that tries something
else next. `latest_sync` hands back the last value read, for a caller whose own
assertion on that value says more than "not true in time".
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def within(
    check: Callable[[], bool | Awaitable[bool]],
    timeout: float = 5.0,  # noqa: ASYNC109 - a deadline for the whole poll, not one await
    interval: float = 0.05,
) -> bool:
    """Whether ``check()`` (awaited if it is a coroutine) is true within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)


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
    if not await within(check, timeout, interval):
        raise AssertionError(_failure(check, timeout, what))


def within_sync(check: Callable[[], bool], timeout: float = 5.0, interval: float = 0.05) -> bool:
    """`within` outside an event loop."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def eventually_sync(
    check: Callable[[], bool],
    timeout: float = 5.0,
    interval: float = 0.05,
    *,
    what: str | Callable[[], str] = "",
) -> None:
    """`eventually` outside an event loop."""
    if not within_sync(check, timeout, interval):
        raise AssertionError(_failure(check, timeout, what))


def latest_sync(
    read: Callable[[], T], done: Callable[[T], bool], timeout: float = 5.0, interval: float = 0.05
) -> T:
    """``read()`` again until ``done`` says its value is final or ``timeout`` passes; the last
    value either way (the caller asserts on it)."""
    value = read()
    deadline = time.monotonic() + timeout
    while not done(value) and time.monotonic() <= deadline:
        time.sleep(interval)
        value = read()
    return value


def _failure(check: Callable[..., object], timeout: float, what: str | Callable[[], str]) -> str:
    """``what`` may be a function: the state at the deadline, said when it is needed."""
    said = what() if callable(what) else what
    return f"not true within {timeout} s: {said or getattr(check, '__qualname__', repr(check))}"
