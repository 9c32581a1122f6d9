"""A small cache of rendered feeds, so a big database is rendered once, not per request.

Generating and rendering 100k seeded customers takes seconds; benchmarks and repeated
imports would otherwise measure the sandbox instead of the gateway. Entries are keyed by
the database's mutation `version`, so any change makes them stale; a feed is cached only
once it was streamed completely (a faulted or abandoned stream is not kept).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator

MAX_ENTRIES = 4


class FeedCache:
    def __init__(self, *, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[Hashable, list[bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries

    def get(self, key: Hashable) -> list[bytes] | None:
        with self._lock:
            chunks = self._entries.get(key)
            if chunks is not None:
                self._entries.move_to_end(key)
            return chunks

    def recording(self, key: Hashable, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """Pass `chunks` through, and keep them once the stream has ended normally."""
        kept: list[bytes] = []
        for chunk in chunks:
            kept.append(chunk)
            yield chunk
        with self._lock:
            self._entries[key] = kept
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
