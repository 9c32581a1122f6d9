"""Waiting for something to happen, with a deadline — never a fixed sleep.

A fixed sleep is either too short on a busy machine (a flaky test) or too long everywhere
(a slow suite). `wait_until` polls a condition until it holds and fails, naming what never
happened and the last value seen, when the deadline passes.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_until(
    condition: Callable[[], Awaitable[T]] | Callable[[], T],
    *,
    what: str,
    within: float = 30.0,
    interval: float = 0.05,
) -> T:
    """Poll `condition` (sync or async) until it returns a truthy value; return that value.

    Exceptions from the condition propagate (a broken check is a failure, not a wait).
    Raises `AssertionError` when `within` seconds pass first.
    """
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {within:g} s (last seen: {value!r})")
        await asyncio.sleep(interval)
