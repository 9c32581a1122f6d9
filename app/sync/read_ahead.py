"""Reading an async source ahead of its consumer, in a task of its own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class _Failed:
    error: Exception


async def read_ahead(
    source: AsyncGenerator[list[Any], None], *, depth: int
) -> AsyncGenerator[list[Any], None]:
    """Iterate `source` in a task of its own, up to `depth` batches ahead of the consumer.

    A feed's batches come from reading the HTTP stream and parsing it (on the codec's
    thread); without this that work would pause whenever the consumer is busy building
    rows or waiting for a write, instead of running alongside. The task owns `source`
    from its first step to its close. `source`'s error reaches the consumer after the
    batches before it, as it would unbuffered; closing this generator early (or cancelling
    its consumer) cancels the task, which closes `source`.
    """
    queue: asyncio.Queue[list[Any] | _Failed | None] = asyncio.Queue(maxsize=depth)

    async def pump() -> None:
        try:
            async with contextlib.aclosing(source):
                async for batch in source:
                    await queue.put(batch)
        except Exception as error:  # handed to the consumer, raised there
            await queue.put(_Failed(error))
        else:
            await queue.put(None)  # the end

    task = asyncio.create_task(pump())
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
